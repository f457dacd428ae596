#!/usr/bin/env bash
# Install the Debian/Ubuntu packages signflow needs, idempotently.
# As root: installs what is missing with apt-get. Otherwise: names the missing packages and
# fails, so that `make` stops with a clear message instead of a confusing error later.
set -euo pipefail

# package            why
PACKAGES=(
  libreoffice-writer-nogui  # headless conversion of .docx to PDF/A
  fonts-liberation2         # Liberation Serif: metric-compatible Times New Roman, full Vietnamese
  fonts-dejavu-core         # fallback fonts with Vietnamese coverage
  softhsm2                  # a real PKCS#11 token for tests and the demo
  opensc                    # pkcs11-tool, to inspect tokens
  poppler-utils             # pdftotext, pdffonts, pdftoppm, pdfsig (independent checks)
  libnss3-tools             # certutil: trust store for pdfsig
  qpdf                      # structural PDF checks in tests
  chromium                  # headless rendering of the HTML verification report
  postgresql                # the portal's shared-deployment database: its tests start a throw-away server
)

missing=()
for spec in "${PACKAGES[@]}"; do
  pkg=${spec%% *}
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# Debian's python3 needs python3-venv to make a virtual environment with pip in it.
if ! "${PYTHON:-python3}" -c 'import venv, ensurepip' 2>/dev/null; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "signflow: these Debian packages are missing and apt-get is not available: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "signflow: missing system packages; install them with:" >&2
  echo "  sudo apt-get install --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
log=$(mktemp -t signflow-apt.XXXXXX.log)
echo "signflow: installing system packages: ${missing[*]} (log: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
     >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "signflow: apt-get failed, see $log" >&2
  exit 1
fi
