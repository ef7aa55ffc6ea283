"""Lets `python -m mailbot` run the command line."""

from mailbot.cli import main

if __name__ == "__main__":
    main()
