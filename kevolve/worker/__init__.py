"""Ticket workers: ``runner`` turns one ticket into a run (or resumes its run), ``loop`` claims
tickets, keeps their leases alive and records outcomes, ``inbox`` watches a folder, ``cli`` is
the ``kevolve worker`` command."""
