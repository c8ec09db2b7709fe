"""FairQueue's Django app. Imports nothing at import time, so that
`import queueapp.engine` never loads Django."""
