"""Lets `python -m mailbot` run the command line."""

from mailbot.cli import main

main()
