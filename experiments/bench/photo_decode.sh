#!/usr/bin/env bash
# Phone photos of 1, 12, 24 and 50 megapixels (a dark 7 on unevenly lit, noisy paper, baseline
# JPEG at quality 90 with 4:2:0 chroma, as phones write them) read by `trainer predict`: the
# median wall time of 7 runs and the peak memory (GNU time's maximum resident set), each with
# what the same command costs on a 28x28 PNG (start, model, one digit) taken off, so the
# figures are the photo's decoding and cleaning. Results: RESULTS.md.
#
#   experiments/bench/photo_decode.sh           # TRAINER=path/to/trainer: another build, for a before and after
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${LENET_PYTHON:-$HOME/.cache/lenet-burn/python/bin/python}
"$python" -c 'import PIL' 2>/dev/null || {
    echo "error: Pillow not found for $python (.ci/run installs it; or set LENET_PYTHON)" >&2
    exit 1
}
cargo build --bin trainer
trainer=${TRAINER:-"${CARGO_TARGET_DIR:-target}"/debug/trainer}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$python" - "$dir" <<'EOF'
import random
import sys

from PIL import Image, ImageDraw, ImageFilter

out = sys.argv[1]
for name, (w, h) in {"1mp": (1224, 918), "12mp": (4032, 3024), "24mp": (5712, 4284),
                     "50mp": (8160, 6120)}.items():
    # Paper lit from one side, a 7 a fifth of the height tall, then sensor noise in each
    # colour (σ about 6 grey levels): about 0.3 MB a megapixel at quality 90, as phones' files.
    paper = Image.linear_gradient("L").resize((w, h)).point(lambda v: 150 + v * 80 // 255)
    draw = ImageDraw.Draw(paper)
    s, x, y = h // 5, w // 2, h // 2
    width = max(2, s // 12)
    draw.line([(x - s // 3, y - s // 2), (x + s // 3, y - s // 2), (x - s // 8, y + s // 2)],
              fill=35, width=width, joint="curve")
    paper = paper.filter(ImageFilter.GaussianBlur(width / 6))
    channels = [Image.blend(paper, Image.effect_noise((w, h), 64).point(lambda v: v + paper_mean),
                            0.1) for paper_mean in (-40, -45, -50)]
    Image.merge("RGB", channels).save(f"{out}/{name}.jpg", quality=90, subsampling=2)
Image.new("L", (28, 28)).save(f"{out}/tiny.png")
EOF
echo "$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) threads"
# Median seconds and peak KiB of 7 runs of `trainer predict FILE`.
measure() {
    for _ in 1 2 3 4 5 6 7; do
        start=$(date +%s%N)
        /usr/bin/time -f "%M" -o "$dir/rss" "$trainer" predict "$1" >/dev/null
        echo "$(( $(date +%s%N) - start )) $(cat "$dir/rss")"
    done | sort -n | awk '{s[NR] = $1 / 1e9; if ($2 > m) m = $2} END {print s[4], m}'
}
read -r base_s base_kib < <(measure "$dir/tiny.png")
printf '28x28 PNG (start, model, one digit): %.0f ms, %.1f MiB\n' "$(echo "$base_s * 1000" | bc)" \
    "$(echo "$base_kib / 1024" | bc -l)"
for name in 1mp 12mp 24mp 50mp; do
    read -r s kib < <(measure "$dir/$name.jpg")
    answer=$("$trainer" predict "$dir/$name.jpg" | cut -d' ' -f2)
    printf '%-5s %5.1f MB file: read %s; decoding and cleaning %.0f ms, %.1f MiB more than the PNG\n' \
        "$name" "$(echo "$(stat -c %s "$dir/$name.jpg") / 1000000" | bc -l)" "$answer" \
        "$(echo "($s - $base_s) * 1000" | bc)" "$(echo "($kib - $base_kib) / 1024" | bc -l)"
done
