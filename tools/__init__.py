"""Built-in tools, one module per family. A tool describes itself and does its work through
the ToolContext it is given; it never authorizes, checks or commits anything itself."""
