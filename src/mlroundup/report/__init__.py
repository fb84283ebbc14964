"""Report writers: results.json -> HTML and terminal tables. Imports no method."""
