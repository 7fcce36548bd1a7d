"""Reading CSV/XLSX exports, validating their cells, and bulk-upserting the rows.

``reading`` turns bytes into numbered lines, ``values`` parses one cell, ``fields``
declares what each import kind accepts and suggests a column mapping, and ``engine``
validates and writes the rows in chunks.  The use cases that drive them live in
:mod:`app.audience.services`.
"""
