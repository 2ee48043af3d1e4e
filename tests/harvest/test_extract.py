"""Extraction from each page layout, and what must never be extracted."""

from __future__ import annotations

import json

from engine.runners.harvest.extract import Extractor, snippet_id
from engine.runners.harvest.page import MAX_PARSE_BYTES
from tests.support.harvest import MOUSE, extract, page, spec_table

SPECS = {"Max DPI": "26,000 DPI", "Weight": "58 g", "Polling rate": "8 kHz", "Sensor": "Focus Pro 30K",
         "Connectivity": "USB-C, Bluetooth, 2.4 GHz wireless"}
EXPECTED = {"max_dpi": 26000, "weight": 58, "polling_rate": 8000, "sensor": "Focus Pro 30K",
            "connectivity": ["2.4 GHz wireless", "Bluetooth", "USB-C"]}


def test_spec_table_rows():
    assert extract(page(spec_table(SPECS))) == EXPECTED


def test_definition_list():
    dl = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in SPECS.items()) + "</dl>"
    assert extract(page(dl)) == EXPECTED


def test_definition_list_with_wrapped_rows():
    dl = "<dl>" + "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in SPECS.items()) + "</dl>"
    assert extract(page(dl)) == EXPECTED


def test_bullets_label_colon_value():
    ul = "<ul>" + "".join(f"<li><strong>{k}:</strong> {v}</li>" for k, v in SPECS.items()) + "</ul>"
    assert extract(page(ul)) == EXPECTED


def test_label_value_pairs_in_divs():
    rows = "".join(f"<div class='row'><span class='k'>{k}</span><span class='v'>{v}</span></div>" for k, v in SPECS.items())
    assert extract(page(rows)) == EXPECTED


def test_lines_separated_by_br():
    assert extract(page("<p>Weight: 58 g<br>Max DPI: 26K</p>")) == {"weight": 58, "max_dpi": 26000}


def test_json_ld_additional_property():
    ld = {"@context": "https://schema.org", "@type": "Product", "name": "Acme Swift Pro",
          "additionalProperty": [
              {"@type": "PropertyValue", "name": "Max DPI", "value": 26000, "unitText": "DPI"},
              {"@type": "PropertyValue", "name": "Weight", "value": "2.05", "unitText": "oz"},
              {"@type": "PropertyValue", "name": "Polling rate", "value": 8, "unitText": "kHz"}]}
    html = page("<p>Buy it now.</p>", head=f"<script type='application/ld+json'>{json.dumps(ld)}</script>")
    assert extract(html) == {"max_dpi": 26000, "weight": 58.1, "polling_rate": 8000}


def test_json_ld_of_another_product_on_the_page_is_ignored():
    mine = {"@type": "Product", "name": "Acme Swift Pro", "additionalProperty": [
        {"@type": "PropertyValue", "name": "Weight", "value": 58, "unitText": "g"}]}
    other = {"@type": "Product", "name": "Acme Brick 9", "additionalProperty": [
        {"@type": "PropertyValue", "name": "Weight", "value": 120, "unitText": "g"}]}
    head = f"<script type='application/ld+json'>{json.dumps({'@graph': [other, mine]})}</script>"
    assert extract(page("", head=head)) == {"weight": 58}


def test_broken_json_ld_is_ignored():
    assert extract(page(spec_table({"Weight": "58 g"}), head="<script type='application/ld+json'>{not json</script>")) == {"weight": 58}


def test_prose_sentences():
    text = "<p>The sensor is rated for 26,000 DPI and it weighs 58 grams. The battery lasts 70 hours.</p>"
    assert extract(page(text)) == {"max_dpi": 26000, "weight": 58, "battery_life": 70}


def test_prose_that_compares_with_another_product_is_skipped():
    assert extract(page("<p>It is 5 g lighter than the Brick 9, which weighs 63 g.</p>")) == {}


def test_prose_gives_a_number_to_the_field_named_next_to_it():
    assert extract(page("<p>The 1.8 m cable is braided and it weighs 58 g.</p>")) == {"cable_length": 1.8, "weight": 58}


def test_hostile_script_never_becomes_a_value():
    html = page(spec_table({"Weight": "58 g"}),
                head="<script>document.write('Max DPI: 99999')</script><script>var s = '<li>Max DPI: 99999</li>';</script>")
    assert extract(html) == {"weight": 58}


def test_script_in_the_body_and_noscript_are_dropped():
    html = page("<ul><li>Weight: 58 g</li></ul><script>document.write('<li>Max DPI: 99999</li>')</script>"
                "<noscript><ul><li>Max DPI: 99999</li></ul></noscript><template><li>Max DPI: 99999</li></template>")
    assert extract(html) == {"weight": 58}


def test_hidden_elements_are_dropped():
    html = page(spec_table({"Weight": "58 g"}) + "<div style='display: none'><ul><li>Max DPI: 99999</li></ul></div>"
                "<div hidden><ul><li>Polling rate: 1 Hz</li></ul></div>")
    assert extract(html) == {"weight": 58}


def test_nav_footer_header_aside_and_cookie_banner_are_dropped():
    html = page(spec_table({"Weight": "58 g"}) + "<aside><ul><li>Max DPI: 3200</li></ul></aside>"
                "<div id='cookie-consent'><ul><li>Polling rate: 125 Hz</li></ul></div>")
    assert extract(html) == {"weight": 58}


def test_compare_and_also_viewed_blocks_are_dropped():
    other = spec_table({"Weight": "99 g", "Max DPI": "12,000 DPI"})
    html = page(spec_table({"Weight": "58 g"}) + f"<section class='compare-table'>{other}</section>"
                f"<div class='customers-also-viewed'>{other}</div><div class='ad-slot'>{other}</div>")
    assert extract(html) == {"weight": 58}


def test_a_block_headed_customers_also_viewed_is_dropped():
    html = page(spec_table({"Weight": "58 g"}) + "<h2>Customers also viewed</h2><ul><li>Max DPI: 12,000</li></ul>"
                "<h2>Reviews</h2><p>Great mouse.</p>")
    assert extract(html) == {"weight": 58}


def test_words_that_only_contain_ad_are_not_noise():
    html = page("<div class='spec-header shadow download'>" + spec_table({"Weight": "58 g"}) + "</div>")
    assert extract(html) == {"weight": 58}


def test_empty_and_whitespace_pages_yield_nothing():
    for html in ("", "   \n  ", "<html></html>"):
        assert extract(html) == {}


def test_malformed_html_still_yields_what_is_readable():
    html = "<html><body><table><tr><td>Weight<td>58 g<tr><td>Max DPI</td><td>26K</table></div></span><p>Unclosed"
    assert extract(html) == {"weight": 58, "max_dpi": 26000}


def test_binary_garbage_does_not_crash():
    assert extract("\x00\xff<\x00html>\ud800 garbage" * 100) == {}


def test_a_huge_page_is_parsed_only_up_to_the_cap():
    filler = "<p>" + "lorem ipsum " * 1000 + "</p>"
    body = spec_table({"Weight": "58 g"}) + filler * (MAX_PARSE_BYTES // len(filler) + 10)
    found = Extractor(MOUSE).extract(page(body + spec_table({"Max DPI": "99999"})))
    assert found.truncated
    assert {c.field for c in found.candidates} == {"weight"}


def test_deeply_nested_markup_does_not_crash():
    assert extract(page("<div>" * 5000 + "Weight: 58 g" + "</div>" * 5000)) in ({}, {"weight": 58})


def test_snippet_ids_are_stable_and_located():
    html = page(spec_table(SPECS))
    first = Extractor(MOUSE).extract(html).candidates
    again = Extractor(MOUSE).extract(html).candidates
    assert [c.location for c in first] == [c.location for c in again]
    ids = [snippet_id("abc", c.location) for c in first]
    assert ids == [snippet_id("abc", c.location) for c in again]
    assert len(set(ids)) == len(ids) and all(len(i) == 16 for i in ids)
    assert snippet_id("abc", first[0].location) != snippet_id("abd", first[0].location)


def test_dropped_furniture_does_not_shift_snippet_locations():
    plain = Extractor(MOUSE).extract(f"<html><body><div>x</div><div>{spec_table({'Weight': '58 g'})}</div></body></html>")
    noisy = Extractor(MOUSE).extract(
        f"<html><body><div class='compare'>{spec_table({'Weight': '99 g'})}</div><div>{spec_table({'Weight': '58 g'})}</div></body></html>")
    assert [c.location for c in plain.candidates] == [c.location for c in noisy.candidates] == ["/html/body/div[2]/table/tr"]


def test_prose_needs_the_field_named_in_the_sentence():
    assert extract(page("<p class='card-specs'>1000 Hz · 50g</p>")) == {}


def test_prose_reads_a_unit_that_is_itself_an_alias():
    assert extract(page("<p>It tops out at 26K DPI.</p>")) == {"max_dpi": 26000}


def test_prose_reads_a_count_named_right_after_it():
    assert extract(page("<p>There are 10 programmable buttons.</p>")) == {"buttons": 10}


def test_prose_reads_text_values_stated_as_names():
    assert extract(page("<p>The sensor is the Focus Pro 30K.</p>")) == {"sensor": "Focus Pro 30K"}
    assert extract(page("<p>Under the shell sits the HERO 25K sensor.</p>")) == {"sensor": "HERO 25K"}
    assert extract(page("<p>The sensor is rated for up to 26,000 DPI.</p>")) == {"max_dpi": 26000}


def test_prose_reads_list_choices_and_enum_choices():
    fields = {"connectivity": ["2.4 GHz wireless", "Bluetooth", "USB-C"]}
    assert extract(page("<p>It connects via USB-C, Bluetooth and 2.4GHz wireless.</p>")) == fields
    assert extract(page("<p>The shape is ergonomic.</p>")) == {"shape": "Ergonomic"}


def test_prose_bools_need_a_statement_and_see_negation():
    assert extract(page("<p>It has RGB lighting.</p>")) == {"rgb": True}
    assert extract(page("<p>It has no RGB lighting.</p>")) == {"rgb": False}
    assert extract(page("<p>Lightweight shell for fast flicks.</p>")) == {}


def test_prose_label_colon_value_sentences_are_read_as_labels():
    assert extract(page("<p>We loved it. Polling rate: 4 kHz.</p>")) == {"polling_rate": 4000}


def test_prose_reads_no_microphone_as_the_none_choice():
    from engine.runners.harvest.fields import parse_fields

    fields = parse_fields({"fields": [{"name": "microphone", "type": "enum", "aliases": ["microphone", "mic"],
                                       "choices": ["Detachable", "Built-in", "None"]}]})
    found = Extractor(fields).extract(page("<p>There is no microphone.</p>"))
    assert [c.value.value for c in found.candidates] == ["None"]


def test_product_cards_of_other_products_are_dropped():
    card = "<div class='product-card'><a href='/p/other'>Other Mouse</a><p class='card-specs'>18K DPI · 1000 Hz</p></div>"
    assert extract(page(spec_table({"Weight": "58 g"}) + card)) == {"weight": 58}
