import unittest

from frelay_party.names import cert_matches, cert_matches_any, describe_names


def cert(*sans, cn=None):
    c = {"subjectAltName": tuple(sans)} if sans else {}
    if cn:
        c["subject"] = ((("commonName", cn),),)
    return c


class HostnameRules(unittest.TestCase):
    def test_exact_dns_name_any_case(self):
        c = cert(("DNS", "1.user1"))
        self.assertTrue(cert_matches(c, "1.user1"))
        self.assertTrue(cert_matches(c, "1.USER1"))
        self.assertFalse(cert_matches(c, "2.user1"))
        self.assertFalse(cert_matches(c, "user1"))

    def test_one_label_identities(self):
        self.assertTrue(cert_matches(cert(("DNS", "1")), "1"))
        self.assertFalse(cert_matches(cert(("DNS", "1")), "10"))

    def test_wildcard_stands_for_exactly_one_leftmost_label(self):
        c = cert(("DNS", "*.flock"))
        self.assertTrue(cert_matches(c, "a.flock"))
        self.assertFalse(cert_matches(c, "a.b.flock"))
        self.assertFalse(cert_matches(c, "flock"))
        self.assertFalse(cert_matches(cert(("DNS", "a*.flock")), "ab.flock"))

    def test_common_name_only_without_dns_names(self):
        self.assertTrue(cert_matches(cert(cn="frelay"), "frelay"))
        self.assertFalse(cert_matches(cert(("DNS", "other"), cn="frelay"), "frelay"))

    def test_ip_addresses_match_ip_entries_only(self):
        c = cert(("DNS", "127.0.0.1"), ("IP Address", "10.0.0.1"))
        self.assertFalse(cert_matches(c, "127.0.0.1"))
        self.assertTrue(cert_matches(c, "10.0.0.1"))
        self.assertTrue(cert_matches(cert(("IP Address", "0:0:0:0:0:0:0:1\n")), "::1"))

    def test_any_of_several(self):
        c = cert(("DNS", "flockrelay"))
        self.assertTrue(cert_matches_any(c, ("flockrelay", "frelay")))
        self.assertFalse(cert_matches_any(c, ("frelay",)))

    def test_describe(self):
        self.assertEqual(describe_names(cert(("DNS", "a"), ("IP Address", "127.0.0.1"))), "a, 127.0.0.1")
        self.assertEqual(describe_names({}), "no names")


if __name__ == "__main__":
    unittest.main()
