"""The local BDPM mirror: the official files downloaded, parsed, loaded into tables of their own and swapped
in atomically (docs/bdpm.md). ``files`` declares the eight files, ``records`` their rows, ``parse`` reads them.
"""
