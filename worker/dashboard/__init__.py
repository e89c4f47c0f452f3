"""The operator dashboard: read-only pages of counts and times, optional token-protected actions.

``data`` reads the database, queue and files; ``pages`` renders HTML with SVG
charts (``svg``); ``server`` is the WSGI app on 127.0.0.1; ``actions`` are the
few things an operator may do from it. Pages show ids, sha256 prefixes, counts
and error types — never names, NIR, profile fields, document text or filenames.
"""
