#!/bin/sh
# fenced-write.sh DIR - a toy "external system" that honours fencing tokens (docs/locking.md).
#
# It accepts a write only when AETHERFLOW_LOCK_TOKEN is at least the largest token it has
# accepted before (DIR/target.token), so a writer whose lock was taken over by someone else
# (and who therefore holds a smaller token) is rejected. A real target does the check and the
# write in one atomic operation (a transaction, a conditional UPDATE); this script does not.
set -eu
dir=$1
token=$AETHERFLOW_LOCK_TOKEN
last=$(cat "$dir/target.token" 2>/dev/null || echo 0)
if [ "$token" -lt "$last" ]; then
    echo "fenced-write: rejected token $token (a holder with token $last already wrote)" >&2
    exit 1
fi
echo "$token" > "$dir/target.token"
echo "$AETHERFLOW_LOCK_KEY written with token $token" >> "$dir/target.txt"
