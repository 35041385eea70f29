"""Date formats for the staff pages (FORMAT_MODULE_PATH): "5 Jan 2013" and "5 Jan 2013, 14:05"."""
