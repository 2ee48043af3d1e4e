#!/bin/sh
# A product job for result and triage tests (tests/integration/test_results.py), run as: sh triage_job.sh MODE DIR
# Products are item-<N>. Each run appends its product id to DIR/started. MODE:
#   ok       every product finds all its required fields (coverage 1.0)
#   fail     every product fails: "exit 3: sensor table missing"
#   mixed    N%4==0 fails, N%4==1 finds half its fields (coverage 0.5, missing weight), the rest are clean
#   reasons  fails with one of 5 reasons by N%5 (each with product-specific numbers, ids, URLs, paths),
#            unless DIR/fixed-<N%5> exists: then it is clean
# A shell, not Python: thousands of runs start in ~1 ms each.
mode=$1 dir=$2 id=$INDEXLAB_PRODUCT_ID
n=${id#item-}
echo "$id" >> "$dir/started"
clean() { printf '{"fields": {}, "coverage": 1.0, "missing": []}\n'; exit 0; }
case $mode in
  ok) clean ;;
  fail) echo "sensor table missing" >&2; exit 3 ;;
  mixed)
    case $((n % 4)) in
      0) echo "no specs on any page of $id" >&2; exit 1 ;;
      1) printf '{"fields": {}, "coverage": 0.5, "missing": ["weight"]}\n'; exit 0 ;;
      *) clean ;;
    esac ;;
  reasons)
    r=$((n % 5))
    [ -e "$dir/fixed-$r" ] && clean
    case $r in
      0) echo "source timeout for $id after $((n % 17 + 3))s" >&2; exit 1 ;;
      1) echo "GET https://shop.example/item/$n?ref=$id returned 503" >&2; exit 1 ;;
      2) echo "parser failed at line $n of /srv/pages/$id.html" >&2; exit 3 ;;
      3) echo "checksum deadbeef$n mismatch" >&2; exit 1 ;;
      4) echo "Model $n has no price ($n offers seen)" >&2; exit 1 ;;
    esac ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac
