#!/usr/bin/env sh
# Makes the compose secrets from deploy/.env: the mosquitto password file (hashed, with mosquitto_passwd — from
# the Debian package mosquitto, or run through the eclipse-mosquitto image when it is not installed) and the
# files under compose/secrets/ that docker compose mounts as secrets. Run from deploy/: ./compose/make-secrets.sh
set -eu
cd "$(dirname "$0")/.."
[ -f .env ] || { echo "deploy/.env is missing: cp compose/env.example .env and set the values" >&2; exit 1; }
set -a; . ./.env; set +a
umask 077
mkdir -p compose/secrets
printf '%s\n' "$MQTT_FIREGRID_PASSWORD" > compose/secrets/mqtt_firegrid_password
printf '%s\n' "$INFLUXDB_ADMIN_TOKEN" > compose/secrets/influxdb_token
printf 'token,role,subject\n%s,dispatcher,\n' "$FIREGRID_DISPATCHER_API_TOKEN" > compose/secrets/api_tokens.csv
# PostgreSQL of compose/postgres.yml: the server's password, and the URL the alert instances read (url_file).
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env (see compose/env.example)}"
printf '%s\n' "$POSTGRES_PASSWORD" > compose/secrets/pg_password
printf 'postgresql://firegrid:%s@postgres:5432/firegrid?sslmode=disable\n' "$POSTGRES_PASSWORD" > compose/secrets/pg_url

passwd() {
    if command -v mosquitto_passwd >/dev/null 2>&1; then
        mosquitto_passwd -b mosquitto/passwd "$1" "$2"
    else
        docker run --rm -v "$PWD/mosquitto:/m" eclipse-mosquitto:2.0 mosquitto_passwd -b /m/passwd "$1" "$2"
    fi
}
: > mosquitto/passwd
passwd firegrid "$MQTT_FIREGRID_PASSWORD"
passwd platform-yubei "$MQTT_PLATFORM_YUBEI_PASSWORD"
passwd dispatcher "$MQTT_DISPATCHER_PASSWORD"
# mosquitto in the container runs as uid 1883 and must read the file.
chmod 0644 mosquitto/passwd
echo "wrote mosquitto/passwd and compose/secrets/ (add fire stations with: mosquitto_passwd -b mosquitto/passwd <station_id> <password>)"
