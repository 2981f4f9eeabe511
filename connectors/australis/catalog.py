"""Australis Seguros (fictional): products, coverages, insured-object pools and claim requirements.

Only the sandbox serves this catalogue; the connector learns everything through the API.
Amounts are in whole currency units here and become cents when the sandbox serves them.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- products -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoverageTemplate:
    """One coverage of a product; ``limit`` in whole units of the policy currency (see Product.divisor)."""

    code: str
    name: str
    event: str  # the claim event this coverage answers (claim requirements by coverage code)
    limit: int | None = None  # None and object_value False: no limit shown
    limit_basis: str | None = None
    object_value: bool = False  # the limit is the insured vehicle's or device's value
    deductible_bp: int | None = None  # percentage deductible in basis points (500 = 5 %)
    deductible_amount: int | None = None  # fixed deductible in whole units
    deductible_basis: str | None = None
    notes: str | None = None
    included: bool = True


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    line: str  # motor | home | life | health | gadgets | personal_accident | travel
    country: str
    coverages: tuple[CoverageTemplate, ...]
    annual_premium: tuple[int, int]  # whole units of the policy currency, range
    group: bool = False
    divisor: int = 1  # the coverage amounts are written in ARS: Mexican products divide them by this


C = CoverageTemplate

AR_MOTOR_FULL = (
    C("RC", "Responsabilidad Civil hacia terceros", "collision", 500_000_000, "Por acontecimiento"),
    C("RT", "Robo o hurto total", "theft_total", object_value=True, limit_basis="Valor de mercado"),
    C(
        "RP",
        "Robo o hurto parcial",
        "theft_partial",
        6_000_000,
        "Por evento",
        deductible_bp=1000,
        deductible_basis="Del monto del daño",
    ),
    C("IT", "Incendio total", "fire", object_value=True, limit_basis="Valor de mercado"),
    C("IP", "Incendio parcial", "fire", 8_000_000, "Por evento"),
    C("DT", "Destrucción total por accidente", "collision", object_value=True, limit_basis="Valor de mercado"),
    C(
        "DP",
        "Daños parciales por accidente (todo riesgo)",
        "collision",
        object_value=True,
        limit_basis="Valor de mercado",
        deductible_amount=350_000,
        deductible_basis="Franquicia fija por evento",
    ),
    C("GR", "Granizo", "hail", 10_000_000, "Por evento"),
    C("CR", "Cristales, cerraduras y luces", "glass", 2_500_000, "Por evento"),
    C("AS", "Asistencia mecánica y remolque", "other", notes="Hasta 300 km por evento, 4 eventos por año"),
)
AR_MOTOR_THIRD = (
    *(c for c in AR_MOTOR_FULL if c.code not in ("DP",)),
    C("DP", "Daños parciales por accidente (todo riesgo)", "collision", included=False),
)
MX_MOTOR_WIDE = (
    C(
        "DM",
        "Daños materiales",
        "collision",
        object_value=True,
        limit_basis="Valor comercial",
        deductible_bp=500,
        deductible_basis="Valor comercial",
    ),
    C(
        "RT",
        "Robo total",
        "theft_total",
        object_value=True,
        limit_basis="Valor comercial",
        deductible_bp=1000,
        deductible_basis="Valor comercial",
    ),
    C("RC", "Responsabilidad civil por daños a terceros", "collision", 3_000_000, "Límite único y combinado"),
    C("GMO", "Gastos médicos ocupantes", "accident", 200_000, "Por evento"),
    C("AL", "Asistencia legal y fianzas", "other", 500_000, "Por evento"),
    C("AV", "Asistencia vial", "other", notes="Grúa hasta 100 km; paso de corriente; cambio de llanta"),
    C("RCE", "Responsabilidad civil en el extranjero", "collision", 2_000_000, "Equivalente a USD 100,000"),
)
MX_MOTOR_LIMITED = (
    C("DM", "Daños materiales", "collision", included=False),
    *(c for c in MX_MOTOR_WIDE if c.code not in ("DM", "RCE")),
)
HOME_BASIC = (
    C("INC_ED", "Incendio del edificio", "fire", 90_000_000, "Valor a nuevo"),
    C("INC_CO", "Incendio del contenido", "fire", 25_000_000, "Valor a nuevo"),
    C(
        "ROBO_CO",
        "Robo del contenido general",
        "theft",
        6_000_000,
        "A primer riesgo absoluto",
        deductible_bp=500,
        deductible_basis="Del monto del daño",
    ),
    C("CRIS", "Cristales", "glass", 900_000, "Por evento"),
    C("AGUA", "Daños por agua", "water_damage", 2_000_000, "Por evento", deductible_amount=50_000),
    C("RC_FAM", "Responsabilidad civil familiar", "other", 30_000_000, "Por evento y en el año"),
    C("ELEC", "Electrodomésticos por variación de tensión", "accidental_damage", 1_500_000, "Por evento"),
    C("ASIS", "Asistencia domiciliaria", "other", notes="Cerrajería, plomería y electricidad de urgencia"),
)
_HOME_TOTAL_NAMES = [
    ("INC_ED", "Incendio del edificio", "fire"),
    ("INC_CO", "Incendio del contenido", "fire"),
    ("RAYO", "Rayo y explosión", "fire"),
    ("VEND", "Huracán, vendaval, ciclón y granizo", "hail"),
    ("TERR", "Terremoto y temblor", "other"),
    ("INUN", "Inundación", "water_damage"),
    ("AGUA", "Daños por agua", "water_damage"),
    ("ROBO_CO", "Robo del contenido general", "theft"),
    ("ROBO_ESP", "Robo de objetos específicos", "theft"),
    ("ROBO_FD", "Robo fuera del domicilio", "theft"),
    ("CRIS", "Cristales", "glass"),
    ("ELEC", "Electrodomésticos", "accidental_damage"),
    ("EQ_ELEC", "Equipos electrónicos", "accidental_damage"),
    ("NOTEB", "Notebooks y tablets", "theft"),
    ("CELU", "Celulares", "theft"),
    ("BICI", "Bicicletas", "theft"),
    ("RC_FAM", "Responsabilidad civil familiar", "other"),
    ("RC_LIN", "Responsabilidad civil hacia linderos", "other"),
    ("RC_AGUA", "Responsabilidad civil por derrame de agua", "water_damage"),
    ("RC_MASC", "Responsabilidad civil por mascotas", "other"),
    ("REMO", "Remoción de escombros", "other"),
    ("ALOJ", "Gastos de alojamiento temporal", "other"),
    ("ALQ", "Pérdida de alquileres", "other"),
    ("DOCS", "Reposición de documentos", "theft"),
    ("CERR", "Cerrajería de urgencia", "other"),
    ("PLOM", "Plomería de urgencia", "water_damage"),
    ("ELECT", "Electricidad de urgencia", "other"),
    ("VIDR", "Vidriería de urgencia", "glass"),
    ("JURI", "Asistencia jurídica telefónica", "other"),
    ("INFO", "Asistencia informática remota", "other"),
    ("VET", "Gastos veterinarios por accidente", "other"),
    ("TV", "Rotura accidental de televisores", "accidental_damage"),
    ("GOLF", "Palos de golf", "theft"),
    ("ARTE", "Obras de arte y antigüedades", "theft"),
]
HOME_TOTAL = tuple(
    C(
        code,
        name,
        event,
        None if code in ("JURI", "INFO") else 500_000 * (1 + i % 7) * (10 if i < 3 else 1),
        None if code in ("JURI", "INFO") else ("Valor a nuevo" if i < 3 else "Por evento"),
        deductible_bp=500 if code.startswith("ROBO") else None,
        deductible_amount=40_000 if code in ("AGUA", "INUN") else None,
        notes="Sin límite de eventos" if code in ("JURI", "INFO") else None,
        included=code not in ("GOLF", "ARTE"),
    )
    for i, (code, name, event) in enumerate(_HOME_TOTAL_NAMES)
)
LIFE = (
    C("FALL", "Fallecimiento", "death", 30_000_000, "Suma asegurada"),
    C("MA", "Muerte accidental (doble indemnización)", "death", 30_000_000, "Adicional a fallecimiento"),
    C("ITP", "Invalidez total y permanente", "accident", 30_000_000, "Suma asegurada"),
    C("EG", "Enfermedades graves", "hospitalization", 6_000_000, "Anticipo", notes="Período de espera: 90 días"),
)
LIFE_SVO = (C("FALL", "Fallecimiento (Decreto 1567/74)", "death", 6_000_000, "Suma fija legal"),)
MX_GMM = (
    C(
        "GMM",
        "Gastos médicos mayores",
        "hospitalization",
        5_000_000,
        "Por enfermedad o accidente",
        deductible_amount=20_000,
        deductible_basis="Por padecimiento",
        notes="Coaseguro 10 % con tope de 50,000 MXN",
    ),
    C("MAT", "Maternidad", "hospitalization", 30_000, "Por embarazo", notes="Período de espera: 10 meses"),
    C(
        "EXT",
        "Emergencia médica en el extranjero",
        "medical_emergency",
        1_000_000,
        "Equivalente a USD 50,000",
        deductible_amount=1_000,
    ),
    C("DENT", "Dental por accidente", "accident", 15_000, "Por evento"),
    C("VIS", "Visión", "other", included=False),
)
AR_HEALTH = (
    C("EG", "Enfermedades graves", "hospitalization", 12_000_000, "Pago único"),
    C("CIR", "Intervenciones quirúrgicas", "hospitalization", 4_000_000, "Según nomenclador"),
    C("RDI", "Renta diaria por internación", "hospitalization", 60_000, "Por día, hasta 60 días"),
)
GADGET = (
    C(
        "ROBO_V",
        "Robo con violencia",
        "theft",
        object_value=True,
        limit_basis="Valor de factura",
        deductible_bp=2000,
        deductible_basis="Valor del equipo",
    ),
    C(
        "ROBO_SV",
        "Hurto (robo sin violencia)",
        "theft",
        object_value=True,
        limit_basis="Valor de factura",
        deductible_bp=3000,
        deductible_basis="Valor del equipo",
    ),
    C("DANO", "Daño accidental", "accidental_damage", object_value=True, deductible_bp=1500),
    C("PANT", "Rotura de pantalla", "screen", deductible_amount=60_000),
    C("VOLT", "Variación de voltaje", "accidental_damage"),
    C("GAR", "Extensión de garantía", "other", included=False, notes="Carencia: 30 días"),
)
PERSONAL_ACCIDENT = (
    C("MA", "Muerte accidental", "death", 20_000_000, "Suma asegurada"),
    C("IP", "Invalidez permanente total o parcial", "accident", 20_000_000, "Según baremo"),
    C("GMA", "Gastos médicos por accidente", "accident", 2_000_000, "Por evento", deductible_amount=60_000),
    C("RD", "Renta diaria por internación", "hospitalization", 30_000, "Por día"),
)
TRAVEL = (
    C("AMV", "Asistencia médica en viaje", "medical_emergency", 150_000_000, "Equivalente a USD 150.000 por viaje"),
    C("EQ", "Pérdida de equipaje", "baggage", 1_200_000, "Equivalente a USD 1.200 por viaje"),
    C("CANC", "Cancelación de viaje", "other", 3_000_000, "Equivalente a USD 3.000 por viaje"),
)

AR_SCALE = 60  # ARS per MXN, roughly: Mexican products reuse ARS-written coverages divided by it

PRODUCTS: tuple[Product, ...] = (
    Product("AR_MOTOR_TR", "Auto Todo Riesgo con franquicia", "motor", "AR", AR_MOTOR_FULL, (1_400_000, 2_600_000)),
    Product("AR_MOTOR_TC", "Auto Terceros Completo Premium", "motor", "AR", AR_MOTOR_THIRD, (700_000, 1_200_000)),
    Product("AR_HOME", "Combinado Familiar", "home", "AR", HOME_BASIC, (180_000, 420_000)),
    Product("AR_HOME_TOTAL", "Hogar Integral Total", "home", "AR", HOME_TOTAL, (600_000, 900_000)),
    Product("AR_LIFE", "Vida Individual", "life", "AR", LIFE, (150_000, 400_000)),
    Product("AR_LIFE_SVO", "Seguro de Vida Obligatorio (Decreto 1567/74)", "life", "AR", LIFE_SVO, (0, 0), group=True),
    Product("AR_HEALTH", "Salud: Enfermedades Graves y Cirugías", "health", "AR", AR_HEALTH, (200_000, 500_000)),
    Product("AR_GADGET", "Protección Celular", "gadgets", "AR", GADGET, (90_000, 180_000)),
    Product("AR_GADGETS_MULTI", "Multidispositivo", "gadgets", "AR", GADGET, (160_000, 300_000)),
    Product("AR_AP", "Accidentes Personales", "personal_accident", "AR", PERSONAL_ACCIDENT, (60_000, 150_000)),
    Product("AR_TRAVEL", "Asistencia al Viajero Anual", "travel", "AR", TRAVEL, (120_000, 260_000)),
    Product("MX_MOTOR_AMP", "Autos Amplia", "motor", "MX", MX_MOTOR_WIDE, (9_000, 22_000)),
    Product("MX_MOTOR_LIM", "Autos Limitada", "motor", "MX", MX_MOTOR_LIMITED, (5_500, 11_000)),
    Product("MX_HOME", "Hogar Protegido", "home", "MX", HOME_BASIC, (2_500, 7_000), divisor=AR_SCALE),
    Product("MX_LIFE", "Vida Temporal 20", "life", "MX", LIFE, (3_000, 9_000), divisor=AR_SCALE),
    Product("MX_GMM", "Gastos Médicos Mayores Individual", "health", "MX", MX_GMM, (18_000, 65_000)),
    Product("MX_GMM_COL", "Gastos Médicos Mayores Colectivo", "health", "MX", MX_GMM, (9_000, 20_000), group=True),
    Product("MX_GADGET", "Celular Protegido", "gadgets", "MX", GADGET, (1_200, 2_800), divisor=AR_SCALE),
    Product("MX_GADGETS_MULTI", "Multidispositivo", "gadgets", "MX", GADGET, (2_400, 4_800), divisor=AR_SCALE),
    Product(
        "MX_AP", "Accidentes Personales", "personal_accident", "MX", PERSONAL_ACCIDENT, (900, 2_500), divisor=AR_SCALE
    ),
)
PRODUCT_BY_CODE = {p.code: p for p in PRODUCTS}

# --- insured-object pools -----------------------------------------------------------------------

AR_VEHICLES = [
    ("Toyota", "Hilux", "2.8 TDI SRX 4x4", 62_000_000),
    ("Volkswagen", "Gol Trend", "1.6 Trendline", 14_500_000),
    ("Fiat", "Cronos", "1.3 Drive", 21_000_000),
    ("Peugeot", "208", "1.6 Allure", 24_000_000),
    ("Ford", "Ranger", "3.2 XLT 4x4", 55_000_000),
    ("Chevrolet", "Onix", "1.0T LTZ", 23_500_000),
    ("Renault", "Sandero", "1.6 Life", 17_000_000),
    ("Citroën", "C4 Cactus", "1.6 Feel", 27_000_000),
]
MX_VEHICLES = [
    ("Nissan", "Versa", "Advance", 330_000),
    ("Volkswagen", "Jetta", "Comfortline", 480_000),
    ("Chevrolet", "Aveo", "LT", 290_000),
    ("Kia", "Rio", "EX", 340_000),
    ("Mazda", "3", "i Sport", 420_000),
    ("Toyota", "Corolla", "LE", 450_000),
    ("Honda", "CR-V", "Touring", 690_000),
    ("Ford", "Lobo", "XLT", 820_000),
]
DEVICES = [  # kind, brand, model, value in ARS (Mexican products divide it by AR_SCALE)
    ("smartphone", "Samsung", "Galaxy S24", 1_500_000),
    ("smartphone", "Apple", "iPhone 15", 2_100_000),
    ("smartphone", "Motorola", "Edge 50", 800_000),
    ("smartphone", "Xiaomi", "Redmi Note 13", 520_000),
    ("laptop", "Lenovo", "IdeaPad 5", 1_300_000),
    ("laptop", "Apple", "MacBook Air", 2_400_000),
    ("tablet", "Samsung", "Galaxy Tab S9", 1_100_000),
    ("smartwatch", "Huawei", "Watch Fit 3", 260_000),
    ("console", "Sony", "PlayStation 5", 1_000_000),
]
AR_ADDRESSES = [
    ("Av. Corrientes 1234, Piso 5 «B»", "C1043AAZ", "Ciudad Autónoma de Buenos Aires", "CABA"),
    ("Bv. Oroño 845", "S2000DSI", "Rosario", "Santa Fe"),
    ("Calle 7 N° 1020", "B1900", "La Plata", "Buenos Aires"),
    ("Av. Colón 3450", "X5003", "Córdoba", "Córdoba"),
    ("Belgrano 560", "M5500", "Mendoza", "Mendoza"),
    ("Ruta 40 km 2015, Chacra 12", "Q8370", "San Martín de los Andes", "Neuquén"),
]
MX_ADDRESSES = [
    ("Calle Durango 245, Col. Roma Norte", "06700", "Cuauhtémoc", "Ciudad de México"),
    ("Av. Chapultepec 480, Col. Americana", "44160", "Guadalajara", "Jalisco"),
    ("Calzada del Valle 400, Col. Del Valle", "66220", "San Pedro Garza García", "Nuevo León"),
    ("Calle 60 N° 491, Centro", "97000", "Mérida", "Yucatán"),
    ("Av. Juárez 12, Centro", "72000", "Puebla", "Puebla"),
    ("Blvd. Kukulcán km 9.5", "77500", "Cancún", "Quintana Roo"),
]
CONSTRUCTION = ["masonry", "concrete", "mixed"]
OCCUPANCY = ["house", "apartment", "country_house"]
DEPENDANTS = [
    "Zoë Nguyễn-Villaseñor",
    "Ñusta Quispe Mamaní",
    "Jean-Luc D'Alessandro",
    "Ana Sofía",
    "Matías",
    "Lucía",
    "Iker",
    "Renata",
    "Søren Øvergård",
]

# --- claim requirements -------------------------------------------------------------------------

AR_NOTICE = ("Denunciar el siniestro a Australis dentro de los 3 días de conocido (Ley 17.418, art. 46)", 72)
MX_NOTICE = ("Dar aviso del siniestro a Australis dentro de los 5 días de conocido (condiciones generales)", 120)
PHONES = {"AR": "0800 555 0142 (línea ficticia)", "MX": "800 555 0142 (línea ficticia)"}

Requirement = tuple[str, tuple[str, ...], tuple[tuple[str, int], ...], tuple[str, ...]]  # title, docs, deadlines, steps

REQUIREMENTS: dict[tuple[str, str, str], Requirement] = {
    ("AR", "motor", "collision"): (
        "Choque o accidente de tránsito",
        (
            "Denuncia administrativa del siniestro (formulario de Australis)",
            "Certificado de cobertura vigente",
            "Licencia de conducir del conductor",
            "Cédula de identificación del vehículo (verde o azul)",
            "DNI del titular y del conductor",
            "Fotos de los daños y del lugar",
            "Datos del tercero: nombre, DNI, patente y aseguradora",
        ),
        (AR_NOTICE,),
        (
            "Completá la denuncia con la versión de los hechos y un croquis.",
            "Coordiná la inspección del vehículo antes de repararlo.",
            "Elegí un taller o pedí el pago en efectivo.",
        ),
    ),
    ("AR", "motor", "theft_total"): (
        "Robo o hurto total del vehículo",
        (
            "Denuncia policial (original o copia certificada)",
            "Certificado de cobertura vigente",
            "Título del automotor",
            "Cédula de identificación del vehículo",
            "Juego completo de llaves",
            "Constancia de la denuncia de robo ante el Registro del Automotor",
            "DNI y CUIL/CUIT del titular",
        ),
        (("Radicar la denuncia policial (condiciones de la póliza)", 24), AR_NOTICE),
        (
            "Hacé la denuncia policial apenas notes el robo.",
            "Avisá a Australis y pedí el número de siniestro.",
            "La indemnización se paga tras 30 días sin aparición del vehículo.",
        ),
    ),
    ("AR", "motor", "theft_partial"): (
        "Robo o hurto parcial (ruedas, estéreo, accesorios)",
        (
            "Denuncia policial",
            "Certificado de cobertura vigente",
            "Fotos de los faltantes",
            "Presupuesto de reposición",
        ),
        (("Radicar la denuncia policial (condiciones de la póliza)", 48), AR_NOTICE),
        (),
    ),
    ("AR", "motor", "glass"): (
        "Rotura de cristales o cerraduras",
        ("Fotos del daño", "Certificado de cobertura vigente"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "motor", "hail"): (
        "Daños por granizo",
        ("Fotos de los daños", "Certificado de cobertura vigente"),
        (AR_NOTICE,),
        ("Coordiná la inspección: no repares antes de que la veamos.",),
    ),
    ("AR", "motor", "fire"): (
        "Incendio del vehículo",
        ("Denuncia policial o informe de bomberos", "Certificado de cobertura vigente", "Fotos de los daños"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "home", "theft"): (
        "Robo en la vivienda",
        (
            "Denuncia policial",
            "Listado de los bienes robados con facturas o fotos",
            "Presupuesto de reparación de cerraduras y aberturas",
        ),
        (("Radicar la denuncia policial (condiciones de la póliza)", 24), AR_NOTICE),
        (),
    ),
    ("AR", "home", "fire"): (
        "Incendio en la vivienda",
        ("Informe de bomberos (si intervinieron)", "Fotos de los daños", "Presupuesto de reparación"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "home", "water_damage"): (
        "Daños por agua",
        ("Fotos de los daños", "Presupuesto de reparación", "Informe del plomero sobre el origen"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "gadgets", "theft"): (
        "Robo del equipo",
        (
            "Denuncia policial",
            "Constancia de bloqueo del IMEI ante tu empresa de telefonía",
            "Factura de compra del equipo",
            "DNI del titular",
        ),
        (("Bloquear el IMEI con tu empresa de telefonía", 24), ("Radicar la denuncia policial", 48), AR_NOTICE),
        (),
    ),
    ("AR", "gadgets", "accidental_damage"): (
        "Daño accidental del equipo",
        ("Equipo dañado para peritaje", "Factura de compra del equipo"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "gadgets", "screen"): (
        "Rotura de pantalla",
        ("Equipo dañado para peritaje", "Factura de compra del equipo"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "life", "death"): (
        "Fallecimiento del asegurado",
        (
            "Partida de defunción",
            "Certificado médico de defunción con la causa",
            "DNI del asegurado y de los beneficiarios",
            "Constancia de CBU de cada beneficiario",
        ),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "health", "hospitalization"): (
        "Internación o cirugía",
        ("Historia clínica o epicrisis", "Certificado médico con el diagnóstico", "Facturas originales"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "personal_accident", "accident"): (
        "Accidente personal",
        ("Denuncia del accidente", "Certificado médico", "Historia clínica"),
        (AR_NOTICE,),
        (),
    ),
    ("AR", "travel", "medical_emergency"): (
        "Emergencia médica en viaje",
        ("Informe médico", "Comprobantes de gastos"),
        (("Llamar a la central de asistencia antes de atenderte", 24),),
        (),
    ),
    ("MX", "motor", "collision"): (
        "Choque o accidente vial",
        (
            "Reporte a la cabina de siniestros desde el lugar del accidente",
            "Licencia de conducir vigente",
            "Tarjeta de circulación",
            "Identificación oficial (INE)",
            "Número de póliza",
        ),
        (MX_NOTICE,),
        ("Llamá a la cabina desde el lugar y esperá al ajustador.", "No aceptes responsabilidad sin el ajustador."),
    ),
    ("MX", "motor", "theft_total"): (
        "Robo total del vehículo",
        (
            "Denuncia ante el Ministerio Público (carpeta de investigación)",
            "Factura original del vehículo",
            "Tarjeta de circulación",
            "Comprobante de baja de placas",
            "Comprobantes de tenencia de los últimos 5 años",
            "Juego completo de llaves",
            "Identificación oficial (INE)",
            "Constancia de situación fiscal (RFC)",
        ),
        (
            ("Reportar el robo a la cabina de siniestros", 24),
            ("Presentar la denuncia ante el Ministerio Público", 48),
            MX_NOTICE,
        ),
        (),
    ),
    ("MX", "home", "theft"): (
        "Robo en casa habitación",
        ("Denuncia ante el Ministerio Público", "Relación de bienes con facturas", "Identificación oficial (INE)"),
        (("Presentar la denuncia ante el Ministerio Público", 48), MX_NOTICE),
        (),
    ),
    ("MX", "gadgets", "theft"): (
        "Robo del equipo",
        (
            "Denuncia ante el Ministerio Público",
            "Folio de bloqueo del IMEI",
            "Factura del equipo",
            "Identificación oficial (INE)",
        ),
        (
            ("Bloquear el IMEI con tu operador y conservar el folio", 24),
            ("Presentar la denuncia ante el Ministerio Público", 48),
            MX_NOTICE,
        ),
        (),
    ),
    ("MX", "gadgets", "screen"): (
        "Rotura de pantalla",
        ("Equipo dañado para peritaje", "Factura del equipo"),
        (MX_NOTICE,),
        (),
    ),
    ("MX", "health", "hospitalization"): (
        "Hospitalización o cirugía",
        (
            "Aviso de accidente o enfermedad",
            "Informe médico",
            "Facturas (CFDI) a nombre del asegurado",
            "Identificación oficial (INE)",
        ),
        (MX_NOTICE,),
        ("Para cirugías programadas pedí la carta pase con 5 días hábiles de anticipación.",),
    ),
    ("MX", "life", "death"): (
        "Fallecimiento del asegurado",
        (
            "Acta de defunción",
            "Certificado de defunción",
            "Acta de nacimiento del asegurado",
            "Identificación de los beneficiarios",
        ),
        (MX_NOTICE,),
        (),
    ),
}
GENERIC_REQUIREMENT: dict[str, Requirement] = {
    "AR": (
        "Otro siniestro",
        ("Formulario de denuncia de Australis", "DNI del titular", "Fotos o constancias"),
        (AR_NOTICE,),
        (),
    ),
    "MX": (
        "Otro siniestro",
        ("Formato de reclamación de Australis", "Identificación oficial (INE)", "Fotos o constancias"),
        (MX_NOTICE,),
        (),
    ),
}
