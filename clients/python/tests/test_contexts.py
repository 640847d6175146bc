import os
import stat
import subprocess
import unittest

from frelay_party.contexts import _as_file
from frelay_party.settings import PemValue

def _fresh_key():
    # Made at run time: the repository holds no key material, not even a test's.
    return subprocess.run(
        ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout


KEY = _fresh_key()


class KeyCopies(unittest.TestCase):
    def test_pem_text_gets_a_private_file_only_while_it_is_loaded(self):
        with _as_file(PemValue(KEY)) as path:
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            with open(path) as f:
                self.assertEqual(f.read(), KEY)
        self.assertFalse(os.path.exists(path))

    def test_a_file_is_used_where_it_is(self):
        with _as_file(PemValue(KEY, "/etc/party/key.pem")) as path:
            self.assertEqual(path, "/etc/party/key.pem")


if __name__ == "__main__":
    unittest.main()
