"""Check the rendered docs site in a real headless browser (make docs).

For the front page and the metadata_facts page, Debian's Chromium loads the
built HTML from disk, then
  - its DOM (--dump-dom, after scripts ran) must hold the page's title and,
    for the module, the option table with the options users set most;
  - its screenshot (--screenshot) must not be blank: an empty, unstyled or
    broken page renders as (almost) one colour, so the PNG must show many
    colours, and a fair share of its pixels must differ from the background.
Screenshots are kept next to HTML_DIR, in screenshots/, for a look by eye.
Usage: check_site.py HTML_DIR
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

# page: (texts its DOM must hold, whether it must hold a table)
PAGES = {
    'index.html': (['cloudmeta.imds', 'metadata_facts', 'register_instance', 'Guides'], False),
    'collections/cloudmeta/imds/metadata_facts_module.html': ([
        'cloudmeta.imds.metadata_facts module', 'Parameters', 'gather_subset', 'legacy_facts',
        'allow_imdsv1', 'Returned Facts', 'Examples',
    ], True),
}
# Chromium without anything that phones home or needs a desktop session.
CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-extensions',
    '--disable-default-apps', '--hide-scrollbars', '--window-size=1280,1600',
]


def chromium():
    for name in ('chromium', 'chromium-browser'):
        path = shutil.which(name)
        if path:
            return path
    sys.exit('check_site: chromium is not installed (make docs installs it as root: tests/utils/install-system-deps docs)')


def run_browser(args, profile):
    command = [chromium(), *CHROMIUM_FLAGS, '--user-data-dir=' + profile, *args]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180, check=False)
    if result.returncode != 0:
        sys.exit('check_site: chromium failed (%d): %s' % (result.returncode, result.stderr[-2000:]))
    return result.stdout


def png_pixels(path):
    """(width, height, rows of RGB(A) tuples) of an 8-bit, non-interlaced PNG."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError('%s is not a PNG' % path)
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', chunk)
        elif kind == b'IDAT':
            idat.append(chunk)
        pos += 12 + length
    width, height, depth, colour, _compression, _filter, interlace = header
    channels = {2: 3, 6: 4}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError('unexpected PNG format in %s: %r' % (path, header))
    raw = zlib.decompress(b''.join(idat))
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                predictor = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + predictor) & 0xFF
        rows.append([bytes(line[i:i + 3]) for i in range(0, stride, channels)])
        previous = line
    return width, height, rows


def check_screenshot(path):
    rows = png_pixels(path)[2]
    counts = {}
    for row in rows[::4]:
        for pixel in row[::4]:
            counts[pixel] = counts.get(pixel, 0) + 1
    total = sum(counts.values())
    background = max(counts.values())
    problems = []
    if len(counts) < 50:
        problems.append('only %d colours' % len(counts))
    if total - background < total * 0.02:
        problems.append('%.1f%% of the pixels differ from the background' % (100.0 * (total - background) / total))
    return problems


def main(html_dir):
    shots = os.path.join(os.path.dirname(os.path.abspath(html_dir.rstrip('/'))), 'screenshots')
    os.makedirs(shots, exist_ok=True)
    failures = []
    for page, (expected, has_table) in PAGES.items():
        path = os.path.join(html_dir, page)
        if not os.path.isfile(path):
            failures.append('%s: not built' % page)
            continue
        url = 'file://' + os.path.abspath(path)
        with tempfile.TemporaryDirectory() as profile:
            dom = run_browser(['--dump-dom', url], profile)
        with tempfile.TemporaryDirectory() as profile:
            shot = os.path.join(shots, page.replace('/', '_').replace('.html', '.png'))
            if os.path.exists(shot):
                os.remove(shot)
            run_browser(['--screenshot=' + shot, url], profile)
        missing = [text for text in expected if text not in dom]
        if missing:
            failures.append('%s: the rendered page lacks %s' % (page, ', '.join(repr(t) for t in missing)))
        if has_table and '<table' not in dom:
            failures.append('%s: the rendered page has no table' % page)
        if not os.path.isfile(shot):
            failures.append('%s: chromium wrote no screenshot' % page)
            continue
        problems = check_screenshot(shot)
        if problems:
            failures.append('%s: the screenshot looks blank (%s)' % (page, '; '.join(problems)))
        print('check_site: %s rendered: %d characters of DOM, screenshot %s' % (page, len(dom), shot))
    if failures:
        sys.exit('check_site: ' + '\n  '.join(failures))


if __name__ == '__main__':
    main(sys.argv[1])
