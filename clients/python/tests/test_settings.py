import os
import stat
import tempfile
import unittest

from frelay_party import SettingsError, load_settings
from frelay_party.settings import DEFAULT_RELAY_NAMES, parse_relay_address

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
FULL_ENV = {
    "RELAY": "relay.example.org:6000",
    "RELAY_CA": PEM,
    "RELAY_CERT": PEM,
    "RELAY_KEY": PEM,
    "USER_CA": PEM,
    "PARTY_CERT": PEM,
    "PARTY_KEY": PEM,
    "DEST": "1.user1",
}


class SettingsFromTheEnvironment(unittest.TestCase):
    def test_reads_the_flock_variables(self):
        s = load_settings(env={**FULL_ENV, "TAG": "job-7"})
        self.assertEqual((s.relay_host, s.relay_port, s.dest, s.tag), ("relay.example.org", 6000, "1.user1", "job-7"))
        self.assertEqual(s.relay_ca.text, PEM)
        self.assertEqual(s.relay_names, DEFAULT_RELAY_NAMES)

    def test_tag_defaults_to_empty(self):
        self.assertEqual(load_settings(env=FULL_ENV).tag, "")

    def test_arguments_win_over_the_environment(self):
        s = load_settings("2.user1", "t", relay="10.0.0.1:7000", env=FULL_ENV)
        self.assertEqual((s.dest, s.tag, s.relay), ("2.user1", "t", "10.0.0.1:7000"))

    def test_an_empty_argument_does_not_fall_back_to_the_environment(self):
        self.assertEqual(load_settings(tag="", env={**FULL_ENV, "TAG": "from-env"}).tag, "")
        with self.assertRaisesRegex(SettingsError, r"missing settings: DEST \(or dest=\)"):
            load_settings(dest="", env=FULL_ENV)

    def test_relay_name_setting(self):
        self.assertEqual(load_settings(env={**FULL_ENV, "RELAY_NAME": "relay.internal"}).relay_names, ("relay.internal",))
        self.assertEqual(load_settings(relay_name="x", env=FULL_ENV).relay_names, ("x",))

    def test_every_missing_setting_is_named_at_once(self):
        env = dict(FULL_ENV)
        del env["USER_CA"], env["DEST"]
        env["RELAY_KEY"] = ""
        with self.assertRaises(SettingsError) as cm:
            load_settings(env=env)
        msg = str(cm.exception)
        for name in ("RELAY_KEY (or relay_key=)", "USER_CA (or user_ca=)", "DEST (or dest=)"):
            self.assertIn(name, msg)
        self.assertNotIn("RELAY_CA", msg)
        self.assertIn("party.env", msg)
        self.assertEqual(cm.exception.error_code, "FRELAY_ERR_USAGE")

    def test_does_not_read_os_environ_when_given_env(self):
        with self.assertRaises(SettingsError):
            load_settings(env={})


class PemTextOrPath(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def tearDown(self):
        for name in os.listdir(self.dir):
            os.chmod(os.path.join(self.dir, name), stat.S_IRUSR | stat.S_IWUSR)
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_a_path_is_read_and_remembered(self):
        path = self.write("ca.pem", PEM)
        s = load_settings(env={**FULL_ENV, "USER_CA": path})
        self.assertEqual((s.user_ca.text, s.user_ca.path), (PEM, path))
        self.assertIsNone(s.relay_ca.path)

    def test_a_file_without_pem_names_the_setting(self):
        path = self.write("notes.txt", "hello")
        with self.assertRaisesRegex(SettingsError, r"^PARTY_KEY: .*notes\.txt holds no PEM data"):
            load_settings(env={**FULL_ENV, "PARTY_KEY": path})

    def test_neither_pem_nor_a_file(self):
        with self.assertRaisesRegex(SettingsError, r"^RELAY_CERT: '/nonexistent/x.pem' is neither PEM text nor a readable file"):
            load_settings(env={**FULL_ENV, "RELAY_CERT": "/nonexistent/x.pem"})


class RelayAddress(unittest.TestCase):
    def test_forms(self):
        self.assertEqual(parse_relay_address("relay:6000"), ("relay", 6000))
        self.assertEqual(parse_relay_address("127.0.0.1:1"), ("127.0.0.1", 1))
        self.assertEqual(parse_relay_address("[::1]:6000"), ("::1", 6000))

    def test_rejects(self):
        for bad in ("relay", "relay:", ":6000", "relay:0", "relay:65536", "relay:http", "::1:6000"):
            with self.subTest(bad=bad), self.assertRaisesRegex(SettingsError, "^RELAY must be host:port"):
                parse_relay_address(bad)


if __name__ == "__main__":
    unittest.main()
