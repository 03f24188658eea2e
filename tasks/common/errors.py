"""The one exception type for user errors (bad paper, bad parameter, missing artifact, unreachable server).

The CLI catches it at the edge and prints it as one line with the fix, exit code 2.
"""


class UserError(Exception):
    """A mistake the user can fix; the message names the key or path and the fix."""
