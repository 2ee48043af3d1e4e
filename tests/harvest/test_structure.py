"""The extractor reads structure, not one generator's markup: every block shape real spec pages use,
and the parts of a page that must never be read. Unhappy paths first."""

from __future__ import annotations

import json

from tests.support.harvest import read


# --------------------------------------------------------------------------- what must never be read
def test_hostile_scripts_templates_and_state_blobs_inject_nothing():
    body = ("<script>document.write('<div><div>Weight</div><div>1 g</div></div>')</script>"
            "<template><div class='row'><div>Max DPI</div><div>99999</div></div></template>"
            "<script>window.__INITIAL_STATE__ = {\"specs\": {\"Weight\": \"0 g\"}}</script>"
            "<noscript><p>Polling rate: 1 Hz</p></noscript>")
    assert read("mouse", body) == {}


def test_empty_malformed_and_binary_pages_yield_nothing():
    for body in ("", "<div><div>Weight</div><div>", "<<<>>>\x00\x01", "<table><tr><td>Weight<td>" * 50,
                 "<dl><dt>Weight<dd>"):
        assert read("mouse", body) in ({}, {"weight": None}) or "weight" not in read("mouse", body)


def test_a_huge_page_of_nested_two_part_blocks_is_read_without_crashing():
    body = "<div>" * 2000 + "<div>Weight</div><div>58 g</div>" + "</div>" * 2000
    read("mouse", body)  # no crash; what it finds does not matter


def test_tooltip_and_screen_reader_text_do_not_become_values():
    body = ("<div class='spec-row'><div class='label'>Weight <span class='tooltip'>May vary by up to 2 g</span></div>"
            "<div class='value'>54 g</div></div>"
            "<div class='spec-row'><div class='label'>Max DPI<span class='sr-only'>(dots per inch, 100 minimum)</span>"
            "</div><div class='value'>35,000</div></div>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000}


def test_footnotes_and_fine_print_are_not_statements():
    body = ("<ul class='specs'><li>Weight: 54 g*</li></ul>"
            "<p class='footnote'>* Weight may vary by up to 2 g. Polling rate: 4000 Hz with the HyperPolling dongle.</p>"
            "<p>* Battery life: 20 hours with RGB on.</p>")
    assert read("mouse", body) == {"weight": 54}


def test_a_sidebar_of_related_products_outside_main_is_not_read():
    html_body = ("<div class='specs'><div><span>Weight</span><span>54 g</span></div></div>")
    page = read("mouse", html_body)
    assert page == {"weight": 54}
    body = ("<div class='product-specs'><p>Weight: 54 g</p></div>"
            "<div class='sidebar'><h3>Top picks</h3><p>Weight: 63 g</p><p>Max DPI: 25,600</p></div>")
    assert read("mouse", body) == {"weight": 54}


def test_everything_outside_the_main_element_is_furniture():
    from engine.runners.harvest.extract import Extractor, best_per_field
    from tests.support.harvest import PRODUCTS, fields

    html = ("<html><body><div class='top'><p>Weight: 99 g</p></div><main><p>Weight: 54 g</p></main>"
            "<div class='bottom'><p>Max DPI: 12,000</p></div></body></html>")
    found = Extractor(fields("mouse"), "mouse").extract(html, PRODUCTS["mouse"])
    assert {k: c.value.value for k, c in best_per_field(found.candidates).items()} == {"weight": 54}


def test_an_implausible_number_is_not_a_value():
    body = "<table><tr><th>Weight</th><td>5400 g</td></tr><tr><th>Polling rate</th><td>8 Hz</td></tr></table>"
    assert read("mouse", body) == {}


# --------------------------------------------------------------------------- two-part blocks
def test_div_div_spec_grid():
    body = ("<div class='specs-grid'>"
            "<div class='spec'><div class='spec-name'>Sensor</div><div class='spec-value'>Focus Pro 35K</div></div>"
            "<div class='spec'><div class='spec-name'>Weight</div><div class='spec-value'>54 g</div></div>"
            "<div class='spec'><div class='spec-name'>Max DPI</div><div class='spec-value'>35,000</div></div></div>")
    assert read("mouse", body) == {"sensor": "Focus Pro 35K", "weight": 54, "max_dpi": 35000}


def test_div_p_and_heading_p_blocks():
    body = ("<div class='feature'><h4>Polling rate</h4><p>Up to 8000 Hz</p></div>"
            "<div class='feature'><div class='t'>Weight</div><p>54 grams</p></div>")
    assert read("mouse", body) == {"polling_rate": 8000, "weight": 54}


def test_label_value_unit_in_three_spans():
    body = "<ul><li><span>Weight</span><span>54</span><span>g</span></li></ul>"
    assert read("mouse", body) == {"weight": 54}


def test_wrapped_definition_list():
    body = ("<dl class='tech-specs'><div class='row'><dt><span>Weight</span></dt><dd><span>54 g</span></dd></div>"
            "<div class='row'><dt>Polling rate</dt><dd>8,000 Hz</dd></div></dl>")
    assert read("mouse", body) == {"weight": 54, "polling_rate": 8000}


def test_dash_pipe_and_tab_separated_lines():
    body = ("<p>Weight – 54 g</p><p>Max DPI | 35,000</p><p>Polling rate\t8000 Hz</p>"
            "<p>Sensor — Focus Pro 35K</p>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000, "polling_rate": 8000, "sensor": "Focus Pro 35K"}


def test_br_separated_lines_in_one_paragraph():
    body = "<p><b>Weight:</b> 54 g<br><b>Max DPI:</b> 35K<br>Polling rate - 8K Hz</p>"
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000, "polling_rate": 8000}


def test_marketing_bullets_with_bracketed_labels():
    body = ("<ul class='a-unordered-list'>"
            "<li>【MULTI-MODE CONNECTION】 Switch between 2.4G, BT and the included USB-C cable for play anywhere</li>"
            "<li>【BACK PADDLES】 Two remappable rear paddles for more control</li>"
            "<li>【LONG BATTERY LIFE】 Up to 22 hours of play per charge</li></ul>")
    assert read("controller", body) == {"connectivity": ["2.4 GHz wireless", "Bluetooth", "Wired"],
                                        "back_buttons": 2, "battery_life": 22}


# --------------------------------------------------------------------------- tables
def test_three_cell_rows_label_value_unit():
    body = ("<table><tr><td>Weight</td><td>54</td><td>g</td></tr>"
            "<tr><td>Polling rate</td><td>8000</td><td>Hz</td></tr></table>")
    assert read("mouse", body) == {"weight": 54, "polling_rate": 8000}


def test_unit_column_named_in_the_header():
    body = ("<table><thead><tr><th>Specification</th><th>Value</th><th>Unit</th></tr></thead><tbody>"
            "<tr><td>Weight</td><td>0.119</td><td>lb</td></tr><tr><td>Max DPI</td><td>35000</td><td>DPI</td></tr>"
            "</tbody></table>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000}


def test_units_in_the_label():
    body = "<table><tr><th>Weight (g)</th><td>54</td></tr><tr><th>Cable length (m)</th><td>1.8</td></tr></table>"
    assert read("mouse", body) == {"weight": 54, "cable_length": 1.8}


def test_comparison_table_reads_only_this_products_column():
    body = ("<table class='versus'><thead><tr><th></th><th>Logitech G Pro X Superlight 2</th>"
            "<th>Razer Viper V3 Pro</th><th>Zowie EC2-CW</th></tr></thead><tbody>"
            "<tr><td>Weight</td><td>60 g</td><td>54 g</td><td>77 g</td></tr>"
            "<tr><td>Max DPI</td><td>32,000</td><td>35,000</td><td>3,200</td></tr></tbody></table>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000}


def test_comparison_table_without_this_product_is_not_read():
    body = ("<table><thead><tr><th>Spec</th><th>Logitech G Pro X Superlight 2</th><th>Zowie EC2-CW</th></tr></thead>"
            "<tbody><tr><td>Weight</td><td>60 g</td><td>77 g</td></tr></tbody></table>")
    assert read("mouse", body) == {}


def test_a_grid_of_several_values_per_label_without_a_header_is_not_read():
    body = "<table><tr><td>Weight</td><td>54 g</td><td>60 g</td></tr></table>"
    assert read("mouse", body) == {}


def test_header_row_of_labels_over_one_row_of_values():
    body = ("<table><tr><th>Weight (g)</th><th>Max DPI</th><th>Polling rate</th></tr>"
            "<tr><td>54</td><td>35,000</td><td>8,000 Hz</td></tr></table>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000, "polling_rate": 8000}


def test_transposed_comparison_reads_the_row_naming_this_product():
    body = ("<table><tr><th>Model</th><th>Weight</th><th>Max DPI</th></tr>"
            "<tr><td>Razer DeathAdder V3</td><td>59 g</td><td>30,000</td></tr>"
            "<tr><td>Razer Viper V3 Pro</td><td>54 g</td><td>35,000</td></tr></table>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000}


# --------------------------------------------------------------------------- structured data
def test_microdata_product_properties():
    body = ("<div itemscope itemtype='https://schema.org/Product'><h1 itemprop='name'>Razer Viper V3 Pro</h1>"
            "<div itemprop='additionalProperty' itemscope itemtype='https://schema.org/PropertyValue'>"
            "<span itemprop='name'>Max DPI</span><span itemprop='value'>35000</span></div>"
            "<div itemprop='weight' itemscope itemtype='https://schema.org/QuantitativeValue'>"
            "<span itemprop='value'>54</span><meta itemprop='unitCode' content='GRM'></div></div>")
    assert read("mouse", body) == {"max_dpi": 35000, "weight": 54}


def test_microdata_of_another_product_is_not_read():
    body = ("<div itemscope itemtype='https://schema.org/Product'><span itemprop='name'>Razer Viper V3 Pro</span>"
            "<div itemprop='weight' itemscope itemtype='https://schema.org/QuantitativeValue'>"
            "<span itemprop='value'>54</span><meta itemprop='unitText' content='g'></div></div>"
            "<div itemscope itemtype='https://schema.org/Product'><span itemprop='name'>Razer Mouse Bungee</span>"
            "<div itemprop='weight' itemscope itemtype='https://schema.org/QuantitativeValue'>"
            "<span itemprop='value'>120</span><meta itemprop='unitText' content='g'></div></div>")
    assert read("mouse", body)["weight"] == 54


def test_json_ld_still_read_with_broken_json_ld_beside_it():
    ld = {"@context": "https://schema.org", "@type": "Product", "name": "Razer Viper V3 Pro",
          "additionalProperty": [{"@type": "PropertyValue", "name": "Weight", "value": 54, "unitText": "g"}]}
    head = ("<script type='application/ld+json'>{broken</script>"
            f"<script type='application/ld+json'>{json.dumps(ld)}</script>")
    assert read("mouse", "<p>Buy now</p>", head=head) == {"weight": 54}


# --------------------------------------------------------------------------- dimensions
def test_mousepad_dimensions_w_x_l_x_h():
    body = "<table><tr><th>Dimensions</th><td>900 x 400 x 4 mm</td></tr></table>"
    assert read("mousepad", body) == {"width": 900, "length": 400, "thickness": 4}


def test_mousepad_dimensions_with_letter_tags_and_inches():
    body = "<ul><li>Product Dimensions: 17.7\"W x 15.7\"L x 0.16\"H</li></ul>"
    assert read("mousepad", body) == {"width": 450, "length": 399, "thickness": 4.1}


def test_package_dimensions_are_not_the_pads():
    body = "<ul><li>Package Dimensions: 50 x 12 x 12 cm</li></ul>"
    assert read("mousepad", body) == {}


# --------------------------------------------------------------------------- other products in the main content
def test_prose_naming_another_makers_product_is_not_read():
    body = ("<div class='review'><p>The Logitech G Pro X Superlight 2 weighs 60 g and tops out at 32,000 DPI.</p>"
            "<p>Our unit weighs 54 grams on the scale.</p></div>")
    assert read("mouse", body) == {"weight": 54}


def test_prose_naming_the_products_own_maker_is_read():
    assert read("mouse", "<p>Razer rates the sensor for 35,000 DPI.</p>") == {"max_dpi": 35000}


def test_blocks_headed_as_other_products_are_not_read():
    body = ("<div class='specs'><p>Weight: 54 g</p></div>"
            "<div class='grid'><h2>Customers also bought</h2><div class='card'><p>Weight: 63 g</p></div></div>"
            "<section><h2>Top picks</h2><p>Max DPI: 26,000</p></section>")
    assert read("mouse", body) == {"weight": 54}


def test_a_huge_table_stops_at_the_candidate_cap():
    from engine.runners.harvest.extract import MAX_CANDIDATES, Extractor
    from tests.support.harvest import PRODUCTS, fields

    html = "<html><body><main><table>" + "<tr><th>Weight</th><td>58</td><td>g</td></tr>" * 20000 + "</table></main></body></html>"
    found = Extractor(fields("mouse"), "mouse").extract(html, PRODUCTS["mouse"])
    assert len(found.candidates) == MAX_CANDIDATES


# --------------------------------------------------------------------------- values spread over markup
def test_screen_reader_text_is_a_value_only_when_nothing_else_is_visible():
    body = ("<table><tr><th>RGB lighting</th><td><i class='icon-check'></i><span class='sr-only'>Yes</span></td></tr>"
            "<tr><th>Weight<span class='visually-hidden'> (measured, may vary by 2 g)</span></th><td>54 g</td></tr>"
            "</table>")
    assert read("mouse", body) == {"rgb_lighting": True, "weight": 54}


def test_an_icon_labelled_for_assistive_technology_is_a_value():
    body = "<dl><dt>RGB lighting</dt><dd><svg></svg><img src='x.png' alt='No'></dd></dl>"
    assert read("mouse", body) == {"rgb_lighting": False}


def test_list_items_in_one_value_cell_stay_separate_items():
    body = ("<table><tr><th>Inputs</th><td><ul><li>HDMI 2.1</li><li>DP 1.4</li><li>USB hub</li></ul></td></tr>"
            "</table>")
    assert read("monitor", body) == {"ports": ["DisplayPort 1.4", "HDMI 2.1", "USB hub"]}


def test_an_emphasised_label_without_a_separator():
    body = "<p><strong>Weight</strong> 54 g</p><p><b>Sensor</b> is where this mouse shines.</p>"
    assert read("mouse", body) == {"weight": 54}


def test_several_pairs_on_one_line():
    body = "<p class='spec-strip'>Weight: 54 g | Max DPI: 35,000 · Polling rate: 8,000 Hz</p>"
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000, "polling_rate": 8000}


# --------------------------------------------------------------------------- comparisons, round-ups, FAQs
def test_a_comparison_section_is_read_only_through_this_products_column():
    body = ("<section class='compare'><h2>How it compares</h2><table><tr><th></th><th>Razer Viper V3 Pro</th>"
            "<th>Logitech G Pro X Superlight 2</th></tr><tr><td>Weight</td><td>54 g</td><td>60 g</td></tr></table>"
            "<p>Weight: 60 g</p></section>")
    assert read("mouse", body) == {"weight": 54}


def test_a_comparison_of_other_products_only_is_not_read():
    body = ("<h2>Compare similar models</h2><table><tr><th></th><th>Logitech G Pro X Superlight 2</th></tr>"
            "<tr><td>Weight</td><td>60 g</td></tr></table>")
    assert read("mouse", body) == {}


def test_a_round_up_reads_only_this_products_entry():
    body = ("<article><h2>The best wireless mice</h2>"
            "<div class='entry'><h3>1. Logitech G Pro X Superlight 2</h3><ul><li>Weight: 60 g</li><li>Max DPI: 32,000</li></ul></div>"
            "<div class='entry'><h3>2. Razer DeathAdder V3 Pro</h3><ul><li>Weight: 63 g</li></ul></div>"
            "<div class='entry'><h3>3. Razer Viper V3 Pro</h3><ul><li>Weight: 54 g</li><li>Max DPI: 35,000</li></ul></div>"
            "<div class='card'><strong>Zowie EC2-CW</strong><p>Weight: 77 g</p></div></article>")
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000}


def test_a_datasheet_in_pre_with_dot_leaders_and_aligned_columns():
    body = "<pre>MODEL ............ Viper V3 Pro\nWEIGHT ........... 54 g\nMAX DPI          35000\nPOLLING = 8000 Hz</pre>"
    assert read("mouse", body) == {"weight": 54, "max_dpi": 35000, "polling_rate": 8000}


def test_faq_questions_state_nothing():
    body = ("<div class='faq'><p>Does the Viper V3 Pro support Bluetooth?</p><p>No. It connects with its 2.4 GHz "
            "HyperSpeed dongle or a USB-C cable.</p></div>")
    assert "Bluetooth" not in read("mouse", body).get("connectivity", [])
