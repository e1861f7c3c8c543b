#!/bin/sh
# Has nothing to say.
exit 0
