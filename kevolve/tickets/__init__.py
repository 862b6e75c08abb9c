"""The ticket queue: optimization requests that workers drain unattended.

``models`` holds the records, ``queue`` the huey queue that delivers tickets to workers,
``store`` the ticket table with claims and leases (both on SQLite embedded, Postgres at
scale), ``spec`` reads ticket YAML files, ``cli`` the ``kevolve ticket`` commands. Workers
and the watched folder live in ``kevolve.worker``.
"""
