#!/bin/sh
# InfluxDB 2 initialisation script (docker-entrypoint-initdb.d; runs once, after the setup of org and bucket):
# maps database "firegrid", retention policy "autogen" to the bucket, explicitly and as the default, so Grafana's
# InfluxQL data source (database firegrid) reads what firegrid writes. InfluxDB 2.7 also has a virtual mapping of
# the same name; the explicit one survives renaming the bucket. docs/operations.md "InfluxQL on InfluxDB 2.x".
set -e
influx v1 dbrp create \
    --org "${DOCKER_INFLUXDB_INIT_ORG}" \
    --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
    --db firegrid \
    --rp autogen \
    --default
