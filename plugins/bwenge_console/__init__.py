"""The web console: sign-in, the expert studio, recipient chat and organisation admin."""
