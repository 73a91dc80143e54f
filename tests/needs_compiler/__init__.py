"""Tests that build C with mypyc themselves: `make test` leaves them out (a fresh machine may have no C compiler);
CI runs them where the compiled build is built (`.ci/run`), and `make test-compiled` with the rest."""
