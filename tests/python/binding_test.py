"""The ctypes binding (bindings/python/edge_rt) on libedge_rt.so and the default model.

Usage: binding_test.py LIBEDGE_RT_SO MODEL_DIR (ctest passes both)."""
import os
import sys
import threading
import unittest

LIBRARY, MODEL = sys.argv[1], sys.argv[2]
os.environ["EDGE_RT_LIBRARY"] = LIBRARY
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
import edge_rt  # noqa: E402

KNOWN = "Once upon a time, there was a little girl named Lily."  # llama2.c's stories260K sample from BOS


class Binding(unittest.TestCase):
    def setUp(self):
        self.model = edge_rt.Model(MODEL, n_ctx=128, n_sessions=2, budget_bytes=8 << 20)

    def tearDown(self):
        self.model.close()

    def greedy(self, session, n):
        return "".join(session.generate(max_tokens=n, temperature=0))

    def test_streams_the_known_text(self):
        self.assertEqual(edge_rt.library_version().count("."), 2)
        info = self.model.info
        self.assertEqual(info["n_vocab"], 512)
        self.assertEqual(info["bos"], 1)
        session = self.model.session()
        session.append(self.model.tokenize(""))
        pieces = list(session.generate(max_tokens=40, temperature=0))
        self.assertGreater(len(pieces), 10)
        text = "".join(pieces)
        self.assertTrue(text.startswith(KNOWN), text)
        self.assertEqual(text, self.model.detokenize(session.tokens[1:]))
        metrics = session.metrics
        self.assertEqual(metrics["stop_reason"], "max_tokens")
        self.assertEqual(metrics["n_generated_tokens"], 40)
        self.assertLessEqual(metrics["peak_pool_bytes"], 8 << 20)

    def test_leaving_the_loop_stops_generation(self):
        session = self.model.session()
        session.append(self.model.tokenize(""))
        for count, _ in enumerate(session.generate(max_tokens=100, temperature=0), 1):
            if count == 5:
                break
        self.assertLess(len(session.tokens), 12)
        self.assertEqual(session.metrics["stop_reason"], "callback")

    def test_multi_turn_equals_a_fresh_session(self):
        session = self.model.session()
        session.append(self.model.tokenize("Lily went to the park."))
        first = self.greedy(session, 8)
        session.append(self.model.tokenize(" She saw a dog.", add_bos=False))
        self.assertEqual(session.metrics["n_prompt_tokens"], len(self.model.tokenize(" She saw a dog.", False)) + 1)
        second = self.greedy(session, 8)
        fresh = self.model.session()
        fresh.append(session.tokens[:-8])
        self.assertEqual(self.greedy(fresh, 8), second)
        self.assertTrue(first)
        more = self.model.tokenize(" Lily smiled.", add_bos=False)
        whole = session.tokens + more
        session.set_tokens(whole)
        self.assertEqual(session.metrics["n_reused_tokens"], len(whole) - len(more) - 1)
        self.assertEqual(session.tokens, whole)

    def test_two_sessions_on_two_threads(self):
        prompts = ["Lily went to the park", "Tom had a red ball"]
        alone = []
        for p in prompts:
            s = self.model.session()
            s.append(self.model.tokenize(p))
            alone.append(self.greedy(s, 30))
            s.close()
        results = [None, None]

        def run(i):
            s = self.model.session()
            s.append(self.model.tokenize(prompts[i]))
            results[i] = self.greedy(s, 30)
            s.close()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, alone)

    def test_cancel_and_stop_strings(self):
        session = self.model.session(n_batch=4)
        prompt = self.model.tokenize("Once upon a time there was a little girl named Lily who")
        polls = []
        with self.assertRaises(edge_rt.Cancelled):
            session.append(prompt, abort=lambda: polls.append(1) or len(polls) >= 3)
        self.assertEqual(session.tokens, [])
        session.append([1])
        self.assertEqual("".join(session.generate(max_tokens=60, temperature=0, stop=["little girl"])),
                         "Once upon a time, there was a ")
        self.assertEqual(session.metrics["stop_reason"], "stop_string")

    def test_errors(self):
        with self.assertRaises(edge_rt.EdgeRtError) as e:
            edge_rt.Model("/nonexistent/model")
        self.assertEqual(e.exception.name, "I/O error")
        self.assertIn("/nonexistent/model", str(e.exception))
        with self.assertRaises(edge_rt.EdgeRtError) as e:
            edge_rt.Model(MODEL, budget_bytes=1000)
        self.assertIn("minimum budget", str(e.exception))
        session = self.model.session()
        with self.assertRaises(edge_rt.EdgeRtError) as e:
            session.append([100000])
        self.assertEqual(e.exception.name, "invalid argument")
        session.close()
        with self.assertRaises(edge_rt.EdgeRtError):
            session.append([1])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
