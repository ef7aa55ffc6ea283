"""The review desk: a server-rendered web app for the support team."""
