"""The application on top of the library: the command line, console tables and the HTML and
Parquet report of a simulated day."""
