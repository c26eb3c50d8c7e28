//! Lectern's media engine. It reads a local file and writes a package to a directory; it knows
//! nothing of HTTP, SQL or object storage.
