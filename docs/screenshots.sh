#!/usr/bin/env bash
# Screenshots of the built site at 1280 px, for a reader's eye on layout and clipping:
# the landing page, the API page of VariationalSparseCoder and the pipeline example.
# Needs headless Chromium (apt-get install chromium) and Pillow; run after a full build:
#   python -m sphinx -b html docs /tmp/docs-build && docs/screenshots.sh /tmp/docs-build
set -euo pipefail
site=${1:?usage: docs/screenshots.sh BUILT_SITE_DIR}
out="$(dirname "$0")/_static/screenshots"
mkdir -p "$out"
for page in index generated/skvsc.VariationalSparseCoder auto_examples/plot_pipeline_digits; do
    name=$(basename "$page")
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1280,2000 --screenshot="$out/$name.png" "file://$(realpath "$site")/$page.html"
    # 256 colours keep each file small.
    python3 -c "import sys; from PIL import Image; p = sys.argv[1]; \
Image.open(p).convert('RGB').quantize(256).save(p, optimize=True)" "$out/$name.png"
done
ls -l "$out"
