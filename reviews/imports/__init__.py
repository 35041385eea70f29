"""Importing review files: reading any CSV/TSV/JSON Lines file (reading), finding its columns and dates
(columns), rating scales and label columns (scales), the import run (file), storing batches with COPY
(store), and the import jobs behind the Imports page and `import_reviews` (jobs)."""
