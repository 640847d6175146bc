import pickle
import unittest

import frelay_party as fp
from frelay_party.errors import refusal


class TypedErrors(unittest.TestCase):
    def test_each_status_has_its_class_and_keeps_code_and_reason(self):
        for code, cls in ((400, fp.BadRequest), (403, fp.NoRoute), (408, fp.PairTimeout), (429, fp.TooManyWaiting), (503, fp.RelayUnavailable)):
            with self.subTest(code=code):
                err = refusal(code, "why")
                self.assertIs(type(err), cls)
                self.assertIsInstance(err, fp.RelayRefused)
                self.assertIsInstance(err, fp.FrelayError)
                self.assertEqual((err.code, err.reason, str(err)), (code, "why", f"relay refused ({code}): why"))
                self.assertEqual(err.error_code, "FRELAY_ERR_REFUSED")

    def test_an_unknown_status_is_still_a_refusal(self):
        err = refusal(418, "teapot")
        self.assertIs(type(err), fp.RelayRefused)
        self.assertEqual(err.code, 418)

    def test_standard_bases_let_generic_handlers_catch_them(self):
        self.assertTrue(issubclass(fp.ConnectTimeout, TimeoutError))
        self.assertTrue(issubclass(fp.RelayUnreachable, ConnectionError))
        self.assertTrue(issubclass(fp.SettingsError, ValueError))

    def test_refusals_survive_pickling(self):
        err = pickle.loads(pickle.dumps(refusal(403, "no route between a and b")))
        self.assertIs(type(err), fp.NoRoute)
        self.assertEqual((err.code, err.reason), (403, "no route between a and b"))


if __name__ == "__main__":
    unittest.main()
