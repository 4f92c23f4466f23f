# A closure of n input-addressed paths for the ingest comparison of
# bench.sh: path i holds a line of text and refers to paths i-1 and i/2, so
# the last one's closure is all n. With size above 0, each path also holds
# about size bytes of base64 text from /dev/urandom (xz shrinks it to about
# three quarters), a payload to compress and hash as real paths have. salt
# makes a new set of store paths, so every repetition uploads into a target
# that has none of them. Builds without a sandbox: it needs /usr/bin.
{ n ? 100, salt ? "0", size ? 0 }:
let
  payload = if size > 0
    then " && /usr/bin/head -c ${toString (size * 3 / 4)} /dev/urandom | /usr/bin/base64 >> $out"
    else "";
  mk = i: script: derivation {
    name = "bench-${salt}-${toString i}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" (script + payload) ];
  };
  at = builtins.elemAt paths;
  paths = builtins.genList (i:
    if i == 0 then mk 0 "echo ${salt} 0 > $out"
    else mk i "echo ${salt} ${toString i} ${at (i - 1)} ${at (i / 2)} > $out") n;
in
at (n - 1)
