import os
import stat
import unittest

from frelay_party.contexts import _as_file
from frelay_party.settings import PemValue

KEY = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"


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
