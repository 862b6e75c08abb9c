"""The HTTP service (FastAPI): chat, tickets, manual uploads, runs, reports, kernels, and the
web page (``kevolve/web``). ``app.create_app`` builds it; ``cli`` is ``kevolve serve``."""
