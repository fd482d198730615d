from docx import Document
from docx.shared import Pt
d = Document()
d.add_heading('Quarterly Report', level=1)
d.add_paragraph('The committee met on Tuesday to review the accounts of the third quarter. Revenue rose by twelve percent, while costs stayed within the budget agreed in March. The office supplies were efficiently reordered.')
d.add_paragraph('Three items were discussed: the new warehouse lease, the hiring plan for the spring, and the renewal of the insurance contract with the current provider.')
t = d.add_table(rows=4, cols=3)
t.style = 'Table Grid'
for r, row in enumerate([('Item', 'Quantity', 'Price'), ('Paper, A4', '12', '54.00'), ('Toner cartridge', '3', '219.50'), ('Stapler', '1', '8.90')]):
    for c, v in enumerate(row):
        t.cell(r, c).text = v
d.add_paragraph('Signed in Lisbon, 6 December 2026.')
d.save('letter.docx')
a = Document()
from docx.oxml.ns import qn
from docx.oxml import OxmlElement
for line in ['مرحبا بكم في التقرير السنوي للشركة.', 'ارتفعت الإيرادات هذا العام بنسبة كبيرة.', 'المجموع: 1250 يورو']:
    p = a.add_paragraph()
    # A right-to-left paragraph, as Arabic documents are written.
    p._p.get_or_add_pPr().append(OxmlElement('w:bidi'))
    run = p.add_run(line)
    rtl = OxmlElement('w:rtl'); run._r.get_or_add_rPr().append(rtl)
a.save('arabic.docx')
