from reportlab.pdfgen import canvas
from reportlab.lib.pagesizes import A4
c = canvas.Canvas('form.pdf', pagesize=A4)
c.setFont('Helvetica', 12)
c.drawString(72, 760, 'Application form')
c.drawString(72, 720, 'First name:')
c.acroForm.textfield(name='first', value='Alice', x=170, y=712, width=150, height=20, borderWidth=0)
c.drawString(72, 690, 'Last name:')
c.acroForm.textfield(name='last', value='Bob', x=170, y=682, width=150, height=20, borderWidth=0)
c.save()
