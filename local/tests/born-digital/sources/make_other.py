from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
c = canvas.Canvas('reportlab.pdf', pagesize=A4)
c.setTitle('Invoice')
c.setFont('Helvetica-Bold', 16); c.drawString(72, 780, 'INVOICE 2026-117')
c.setFont('Helvetica', 11)
y = 740
for line in ['Bill to: Ada Lovelace, 12 St James Square, London', 'Date: 6 December 2026     Due: 31 December 2026', '']:
    c.drawString(72, y, line); y -= 16
for item, qty, price in [('Consulting, November', '10 h', '1,000.00'), ('Travel expenses', '1', '250.00'), ('Total due', '', '1,250.00')]:
    c.drawString(72, y, item); c.drawString(320, y, qty); c.drawRightString(520, y, price); y -= 16
# Fake bold: the same words drawn twice, a little apart.
c.setFont('Helvetica', 14)
for dx in (0, 0.4):
    c.drawString(72 + dx, 600, 'Submit Data Sheet')
c.save()

from fpdf import FPDF
pdf = FPDF(); pdf.add_page(); pdf.set_font('Helvetica', size=12)
pdf.multi_cell(0, 7, 'Shipping notice. Your parcel left our warehouse in Rotterdam this morning and should reach you within three working days. Please keep this notice until the goods have arrived.')
pdf.ln(4)
for row in [('Order', 'A-5521'), ('Weight', '3.2 kg'), ('Carrier', 'PostNL')]:
    pdf.cell(50, 8, row[0]); pdf.cell(50, 8, row[1], new_x='LMARGIN', new_y='NEXT')
pdf.output('fpdf2.pdf')
