"""`python -m labcoat` runs the labcoat command."""

from labcoat.cli import main

main()
