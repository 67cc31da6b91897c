"""Where users meet the analysis: the command line, its configuration, files and output formats."""
