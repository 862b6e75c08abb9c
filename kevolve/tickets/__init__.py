"""The ticket queue: optimization requests that workers drain unattended.

``models`` holds the records, ``store`` the SQLAlchemy queue with leases (SQLite embedded,
Postgres at scale), ``spec`` reads ticket YAML files, ``inbox`` the watched folder, ``cli``
the ``kevolve ticket`` commands. Workers live in ``kevolve.worker``.
"""
