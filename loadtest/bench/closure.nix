# A closure of n small input-addressed paths for the ingest comparison of
# bench.sh: path i holds a line of text and refers to paths i-1 and i/2, so
# the last one's closure is all n. salt makes a new set of store paths, so
# every repetition uploads into a target that has none of them.
{ n ? 100, salt ? "0" }:
let
  mk = i: script: derivation {
    name = "bench-${salt}-${toString i}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" script ];
  };
  at = builtins.elemAt paths;
  paths = builtins.genList (i:
    if i == 0 then mk 0 "echo ${salt} 0 > $out"
    else mk i "echo ${salt} ${toString i} ${at (i - 1)} ${at (i / 2)} > $out") n;
in
at (n - 1)
