#!/bin/sh
# Stands in for `dbt run` in docs/examples/process-dbt.yaml: the same flags, no database.
#
#   sh docs/examples/fake-dbt.sh run --select MODEL[,MODEL...] --target-path DIR
#
# Prints progress on stdout and a warning on stderr, writes DIR/run_results.json.
# FAKE_DBT_FAIL=1 fails the way dbt does: an error on stderr and exit code 1.
set -eu
select="" target="target"
while [ $# -gt 0 ]; do
  case "$1" in
    --select) select=$2; shift 2 ;;
    --target-path) target=$2; shift 2 ;;
    *) shift ;;
  esac
done
echo "Running with fake-dbt=1.0 (standing in for dbt)"
echo "WARNING: 1 model has no tests" >&2
if [ "${FAKE_DBT_FAIL:-0}" = 1 ]; then
  echo "Database Error in model orders: relation raw.orders does not exist" >&2
  exit 1
fi
mkdir -p "$target"
models=$(echo "$select" | tr ',' ' ')
total=$(echo $models | wc -w | tr -d ' ')
n=0 results=""
for model in $models; do
  n=$((n + 1))
  echo "$n of $total OK created sql table model analytics.$model"
  results="$results${results:+,}{\"unique_id\": \"model.shop.$model\", \"status\": \"success\"}"
done
echo "{\"results\": [$results]}" > "$target/run_results.json"
echo "Completed successfully (run $AETHERFLOW_RUN_ID, attempt $AETHERFLOW_ATTEMPT)"
