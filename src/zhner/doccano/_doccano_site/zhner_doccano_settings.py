"""Doccano's production settings with the two defaults a shared machine must not keep.

Run by Doccano's own Python (DJANGO_SETTINGS_MODULE=zhner_doccano_settings, this folder on
PYTHONPATH); server.py sets the environment. A missing variable fails at start on purpose: falling
back to Doccano's defaults is exactly what this module exists to prevent.
"""

import os

from config.settings.production import *  # noqa: F401,F403

# Doccano's default key is printed in its source: anyone could forge its signed cookies and tokens
SECRET_KEY = os.environ["SECRET_KEY"]
# Doccano answers any Host header ("*"): a DNS-rebinding page in a browser could then reach it
ALLOWED_HOSTS = [h for h in os.environ["ZHNER_ALLOWED_HOSTS"].split(",") if h]
# Django chmods every stored upload to 0644 whatever the umask (measured: the filepond uploads in
# media/ showed up 0644 while the rest of the home was 0600): keep them to the user too
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700
