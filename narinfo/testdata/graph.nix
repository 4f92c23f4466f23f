let
  a = derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo hello > $out"]; };
  c = derivation { name = "c-1.0"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo c > $out"]; };
  b = derivation { name = "b"; system = "x86_64-linux"; builder = "/bin/sh"; args = ["-c" "echo $out ${c} ${a} > $out"]; };
in b
