#!/bin/sh
# Stands in for `spark-submit` in docs/examples/process-spark.yaml.
#
#   sh docs/examples/fake-spark.sh --date YYYY-MM-DD
#
# Writes two part files and _SUCCESS into $AETHERFLOW_OUTPUT_DIR (the temporary directory that
# external.process prepares for idempotency.strategy atomic_dir). FAKE_SPARK_FAIL=1 fails after
# the first part file, the way a job fails half-way.
set -eu
date=${2:-unknown}
out=$AETHERFLOW_OUTPUT_DIR
echo "fake-spark: aggregating orders for $date into $out"
printf 'order_id,amount\n1001,12.50\n' > "$out/part-00000.csv"
if [ "${FAKE_SPARK_FAIL:-0}" = 1 ]; then
  echo "fake-spark: ExecutorLostFailure (executor 2 exited)" >&2
  exit 1
fi
printf 'order_id,amount\n1002,7.00\n' > "$out/part-00001.csv"
touch "$out/_SUCCESS"
echo "fake-spark: done"
