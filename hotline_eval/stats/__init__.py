"""Published statistics: readers for the tables hotlines publish (CSV, XLSX, HTML, JSON, text)."""
