"""Studies: paper reproductions and experiment runners built on the library (the top library layer)."""
