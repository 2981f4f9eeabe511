"""GNP's products as the sandbox sells them: coverages from the seeds and claim requirements (seed 002 §V, 004 §4)."""

from __future__ import annotations

from dataclasses import dataclass

# --- Autos Individual (seed 004 §2.1 a) … u), and §5 assistance services) ----------------------


@dataclass(frozen=True)
class AutoCoverage:
    """One coverage of the Autos Individual carátula."""

    code: str
    inciso: str
    name: str
    packages: frozenset[str]  # packages in which it is amparada by default
    kind: str  # vehicle | amount | none: how the sum insured is expressed


AMPLIA, LIMITADA, RC = "Amplia", "Limitada", "Responsabilidad Civil"
_ALL = frozenset({AMPLIA, LIMITADA, RC})
_AL = frozenset({AMPLIA, LIMITADA})
_A = frozenset({AMPLIA})
_NONE: frozenset[str] = frozenset()

AUTO_COVERAGES: tuple[AutoCoverage, ...] = (
    AutoCoverage("DMPP", "a", "Daños Materiales Pérdida Parcial", _A, "vehicle"),
    AutoCoverage("DMPT", "b", "Daños Materiales Pérdida Total", _AL, "vehicle"),
    AutoCoverage("CRIS", "c", "Cristales", _A, "none"),
    AutoCoverage("ROBT", "d", "Robo Total", _AL, "vehicle"),
    AutoCoverage("AEE", "e", "Adaptaciones, Conversiones y Equipo Especial", _NONE, "amount"),
    AutoCoverage("RCDT", "f", "Responsabilidad Civil por Daños a Terceros", _ALL, "amount"),
    AutoCoverage("RCOC", "g", "Responsabilidad Civil Ocupantes", _ALL, "amount"),
    AutoCoverage("RCFA", "h", "Responsabilidad Civil por Fallecimiento", _ALL, "amount"),
    AutoCoverage("ERCD", "i", "Extensión de Cobertura de Responsabilidad Civil por Daños a Terceros", _A, "none"),
    AutoCoverage("GMOC", "j", "Gastos Médicos Ocupantes", _ALL, "amount"),
    AutoCoverage("PAUX", "k", "Protección Auxiliar", _NONE, "amount"),
    AutoCoverage("APT", "l", "Ayuda para Pérdidas Totales", _NONE, "amount"),
    AutoCoverage("AAC", "m", "Accidentes Automovilísticos al Conductor", _AL, "amount"),
    AutoCoverage("LLR", "n", "Ayuda para llantas y rines / Daños Materiales de llantas y/o rines", _NONE, "amount"),
    AutoCoverage("PC0", "o", "Paga Cero / Cero Deducible en Pérdida Total", _NONE, "none"),
    AutoCoverage("LLAV", "p", "Llaves de Repuesto / Reposición de llaves", _NONE, "amount"),
    AutoCoverage("SAGE", "q", "Siempre en Agencia", _NONE, "none"),
    AutoCoverage("ROBP", "r", "Robo Parcial", _NONE, "amount"),
    AutoCoverage("RPP", "s", "Robo Parcial Plus", _NONE, "amount"),
    AutoCoverage("CPRO", "t", "Conductor Protegido", _NONE, "none"),
    AutoCoverage("GAF", "u", "Garantía de Autos Financiados", _NONE, "none"),
    AutoCoverage("PLEG", "5a", "Protección Legal", _ALL, "amount"),
    AutoCoverage("CLUB", "5b", "Club GNP Autos", _AL, "none"),
    AutoCoverage("ASUS", "5c", "Auto Sustituto", _NONE, "none"),
    AutoCoverage("ASUP", "5d", "Auto Sustituto Plus", _NONE, "none"),
)

AUTO_AMOUNTS = {  # fixed limits of the "amount" coverages
    "AEE": "30000.00",
    "RCDT": "3000000.00",
    "RCOC": "1000000.00",
    "RCFA": "3000000.00",
    "GMOC": "200000.00",
    "PAUX": "50000.00",
    "APT": "20000.00",
    "AAC": "100000.00",
    "LLR": "15000.00",
    "LLAV": "5000.00",
    "ROBP": "20000.00",
    "RPP": "40000.00",
    "PLEG": "500000.00",
}

AUTO_NOTES = {
    "RCDT": "Límite Único y Combinado (LUC).",
    "GMOC": "Por evento, hasta 5 ocupantes.",
    "PLEG": "Servicio de asistencia (cap. 5 a).",
    "CLUB": "Hasta cinco servicios de auxilio vial por vigencia (cap. 5 b).",
    "SAGE": "Reparación en agencia para vehículos de hasta 2 años de antigüedad.",
    "CRIS": "Deducible sobre el costo del cristal afectado.",
}

VEHICLES: tuple[tuple[str, str, str, int], ...] = (  # marca, submarca, versión, valor nuevo MXN
    ("Nissan", "Versa", "Advance CVT", 389_900),
    ("Nissan", "Sentra", "Sense", 459_900),
    ("Nissan", "Kicks", "Exclusive", 514_900),
    ("Nissan", "March", "Sense TM", 289_900),
    ("Volkswagen", "Jetta", "Comfortline Tiptronic", 519_990),
    ("Volkswagen", "Virtus", "Highline", 434_990),
    ("Volkswagen", "Tiguan", "Trendline Plus", 689_990),
    ("Chevrolet", "Aveo", "LT Aut.", 309_900),
    ("Chevrolet", "Onix", "Premier Turbo", 368_900),
    ("Toyota", "Corolla", "Base CVT", 445_000),
    ("Toyota", "RAV4", "XLE Híbrido", 799_900),
    ("Toyota", "Hilux", "Doble Cabina SR", 559_900),
    ("Mazda", "Mazda 3", "i Sport Sedán", 449_900),
    ("Mazda", "CX-5", "i Grand Touring", 629_900),
    ("Kia", "Rio", "LX Sedán TA", 329_900),
    ("Kia", "Seltos", "EX Pack", 499_900),
    ("Honda", "CR-V", "Turbo Plus", 699_900),
    ("Honda", "City", "Sport CVT", 379_900),
)

# --- Mis Dispositivos GNP (seed 002) -----------------------------------------------------------

DEVICE_COVERAGES: tuple[tuple[str, str, frozenset[str]], ...] = (  # code, name, device kinds it may cover
    (
        "RCV",
        "Robo con violencia",
        frozenset({"Celular", "Tablet", "Smartwatch", "Laptop", "Consola portátil", "Televisión"}),
    ),
    ("RSV", "Robo sin violencia", frozenset({"Celular", "Tablet", "Smartwatch", "Laptop", "Consola portátil"})),
    (
        "VVO",
        "Variación de voltaje",
        frozenset({"Celular", "Tablet", "Smartwatch", "Laptop", "Consola portátil", "Televisión"}),
    ),
    (
        "DEQ",
        "Daños del equipo",
        frozenset({"Celular", "Tablet", "Smartwatch", "Laptop", "Consola portátil", "Televisión"}),
    ),
    ("RPA", "Rotura de pantalla", frozenset({"Celular", "Tablet", "Smartwatch", "Laptop", "Televisión"})),
    ("REQ", "Rotura del equipo", frozenset({"Laptop", "Consola portátil", "Televisión"})),
    ("EXG", "Extensión de garantía", frozenset({"Televisión", "Consola portátil"})),
    (
        "TRE",
        "Trámite de reparación",
        frozenset({"Celular", "Tablet", "Smartwatch", "Laptop", "Consola portátil", "Televisión"}),
    ),
)

DEVICES: tuple[tuple[str, str, str, int], ...] = (  # tipo de equipo, marca, modelo, valor factura MXN
    ("Celular", "Apple", "iPhone 15 128 GB", 17_999),
    ("Celular", "Apple", "iPhone 16 Pro 256 GB", 27_999),
    ("Celular", "Samsung", "Galaxy S24 256 GB", 19_999),
    ("Celular", "Samsung", "Galaxy A55 5G", 8_999),
    ("Celular", "Motorola", "Edge 50 Fusion", 7_499),
    ("Celular", "Xiaomi", "Redmi Note 13 Pro", 6_999),
    ("Laptop", "Apple", "MacBook Air 13 M3", 26_999),
    ("Laptop", "Lenovo", "IdeaPad Slim 5", 16_499),
    ("Laptop", "HP", "Pavilion 15", 14_999),
    ("Tablet", "Apple", "iPad 10.ª generación", 8_999),
    ("Tablet", "Samsung", "Galaxy Tab S9 FE", 9_499),
    ("Smartwatch", "Apple", "Watch Series 9", 8_499),
    ("Consola portátil", "Nintendo", "Switch OLED", 7_999),
    ("Televisión", "LG", "OLED55 C3", 24_999),
)

DEVICE_WAITING_NOTE = (
    "Periodo de espera de 3 meses para equipos comprados antes del inicio de vigencia (categoría Multidispositivo)."
)
DEVICE_NO_WAITING_NOTE = "Categoría Individual: no aplica periodo de espera."

# --- Gastos Médicos Mayores -----------------------------------------------------------------------

GMM_COVERAGES: tuple[tuple[str, str], ...] = (  # the full catalogue: 36 coverages and benefits
    ("GMM", "Gastos Médicos Mayores (cobertura básica)"),
    ("HOSP", "Hospitalización y cuarto privado estándar"),
    ("HONM", "Honorarios médicos y quirúrgicos"),
    ("MEDH", "Medicamentos dentro y fuera del hospital"),
    ("ESTD", "Estudios de laboratorio y gabinete"),
    ("TERA", "Terapias de rehabilitación"),
    ("AMBT", "Ambulancia terrestre"),
    ("AMBA", "Ambulancia aérea"),
    ("MATE", "Maternidad"),
    ("CEMB", "Complicaciones del embarazo y del parto"),
    ("RNAC", "Recién nacido sano"),
    ("PCON", "Padecimientos congénitos"),
    ("TRAS", "Trasplante de órganos"),
    ("CREC", "Cirugía reconstructiva por accidente"),
    ("DENT", "Tratamiento dental por accidente"),
    ("PROT", "Prótesis y aparatos ortopédicos"),
    ("PSIQ", "Atención psiquiátrica y psicológica"),
    ("ENFD", "Enfermería a domicilio"),
    ("HOMC", "Cuidados en casa (home care)"),
    ("VIH", "VIH y SIDA"),
    ("ONCO", "Protección oncológica"),
    ("EMEX", "Emergencia en el extranjero"),
    ("CINT", "Cobertura internacional"),
    ("ECEX", "Enfermedades catastróficas en el extranjero"),
    ("SOPM", "Segunda opinión médica"),
    ("TELM", "Telemedicina"),
    ("MPRE", "Medicina preventiva (check-up anual)"),
    ("VISI", "Visión (lentes y armazones)"),
    ("EDAC", "Eliminación de deducible por accidente"),
    ("RDED", "Reducción de deducible en hospitales de la red"),
    ("IDHO", "Indemnización diaria por hospitalización"),
    ("MACC", "Muerte accidental"),
    ("FUNE", "Gastos funerarios"),
    ("ASVJ", "Asistencia en viajes"),
    ("PREX", "Padecimientos preexistentes declarados"),
    ("CIRB", "Cirugía bariátrica"),
)

GMM_PLANS = (  # product, number of catalogue entries, sum insured, deductible
    ("Gastos Médicos Mayores Versátil", 14, "30000000.00", "25000.00"),
    ("Gastos Médicos Mayores Alfa Medical", 20, "60000000.00", "18000.00"),
    ("Gastos Médicos Mayores Línea Azul VIP", 36, "150000000.00", "12000.00"),
)

GROUP_GMM_PRODUCT = "Gastos Médicos Mayores Colectivo"
GROUP_LIFE_PRODUCT = "Vida Grupo"

# --- Vida -------------------------------------------------------------------------------------------

LIFE_COVERAGES: tuple[tuple[str, str, str], ...] = (  # code, name, multiple of the basic sum
    ("FALL", "Fallecimiento", "1"),
    ("MACC", "Muerte accidental", "1"),
    ("BIT", "Invalidez total y permanente", "1"),
    ("EXPR", "Exención de pago de primas por invalidez", "0"),
    ("PORG", "Pérdidas orgánicas", "1"),
    ("EGRA", "Enfermedades graves", "0.25"),
    ("GFUN", "Gastos funerarios", "0.05"),
)

LIFE_PLANS = ("Vida Protege", "Vida Mujer", "Ordinario de Vida", "Dotal Capitaliza")

# --- Hogar --------------------------------------------------------------------------------------

HOME_COVERAGES: tuple[tuple[str, str, str, str | None], ...] = (  # code, name, share of the building sum, deductible
    ("INCE", "Incendio edificio", "1", None),
    ("INCC", "Incendio contenidos", "0.3", None),
    ("HIDR", "Riesgos hidrometeorológicos", "1", "pct:1"),
    ("TERR", "Terremoto y/o erupción volcánica", "1", "pct:2"),
    ("RCFM", "Responsabilidad civil familiar", "0.5", None),
    ("ROBC", "Robo de contenidos", "0.1", "pct:10"),
    ("DYV", "Dinero y valores", "0.01", "amt:1000.00"),
    ("CRIS", "Cristales", "0.02", "amt:500.00"),
    ("EELE", "Equipo electrónico y electrodomésticos", "0.05", "pct:10"),
    ("GEXT", "Gastos extraordinarios", "0.05", None),
    ("ASIS", "Asistencia en el hogar", "0", None),
)

HOME_STREETS = (
    "Av. Insurgentes Sur",
    "Calle Durango",
    "Av. Revolución",
    "Calle Ámsterdam",
    "Av. Vallarta",
    "Calle Hidalgo",
    "Av. Constitución",
    "Calle Morelos",
    "Calzada de Tlalpan",
    "Calle Niños Héroes",
)
HOME_PLACES = (  # colonia, C.P., municipio/alcaldía, estado
    ("Del Valle Centro", "03100", "Benito Juárez", "Ciudad de México"),
    ("Roma Norte", "06700", "Cuauhtémoc", "Ciudad de México"),
    ("Coyoacán Centro", "04000", "Coyoacán", "Ciudad de México"),
    ("Providencia", "44630", "Guadalajara", "Jalisco"),
    ("Del Valle", "66220", "San Pedro Garza García", "Nuevo León"),
    ("Centro", "76000", "Querétaro", "Querétaro"),
    ("La Paz", "72160", "Puebla", "Puebla"),
    ("García Ginerés", "97070", "Mérida", "Yucatán"),
)

ACCIDENT_PRODUCT = "Accidentes Personales Individual"

# --- claim requirements (seed 002 §V, seed 004 §4) --------------------------------------------------

_NOTICE_5_DAYS = {"descripcion": "Dar aviso a GNP a más tardar dentro de los 5 días siguientes al evento", "dias": 5}
_AUTHORITY_48H = {
    "descripcion": "Denunciar el robo ante la autoridad competente (Fiscalía del Ministerio Público) "
    "dentro de las 48 horas siguientes al hecho",
    "horas": 48,
}
_DEVICE_DOCS = [
    "INE del contratante",
    "Copia y/o factura del bien asegurado con nombre y apellidos, marca, modelo, fecha y precio de compra, "
    "IMEI (equipos con red móvil) y número de serie",
]
_DEVICE_STEPS = [
    "Ejecutar todos los actos que tiendan a evitar la agravación o disminuir el daño",
    "Conservar las evidencias del evento y las partes dañadas",
    "Acudir al centro de reparación o proveedor autorizado que asigne GNP",
]
_THEFT_DOCS = [
    "Denuncia ante la Fiscalía del Ministerio Público con las circunstancias del robo y marca, modelo y número "
    "de serie del equipo",
    "Folio de cancelación del IMEI (celulares, tablets y equipos con red móvil)",
]
_AUTO_DOCS = [
    "Formulario de declaración del siniestro",
    "Licencia de conducir vigente, correspondiente al uso y tipo de vehículo asegurado",
    "Identificación oficial: credencial de elector (INE), pasaporte o cartilla del Servicio Militar Nacional",
]
_TOTAL_LOSS_DOCS = [
    "Original de la factura que acredita la propiedad del vehículo",
    "Pedimento de importación, en su caso",
    "Comprobantes de pago de la tenencia o uso de vehículos de los cinco años anteriores al siniestro",
    "Constancia del trámite de baja de las placas",
    "Identificación oficial, comprobante de domicilio, RFC y CURP del propietario",
    "Estado de cuenta del beneficiario con la CLABE interbancaria visible",
]
_AUTO_STEPS = [
    "Reportar el siniestro a la Línea GNP 55 5227 9000 o desde el botón SOS de la App Soy Cliente GNP",
    "No hacer arreglos ni negociaciones con los involucrados sin autorización de GNP",
    "Esperar al ajustador y seguir sus instrucciones",
]
_AUTO_PAYMENT = {
    "descripcion": "GNP paga dentro de los 30 días naturales siguientes a la recepción completa de los documentos",
    "dias": 30,
}


def _device(tipo: str, titulo: str, theft: bool, extra_docs: list[str] | None = None) -> dict[str, object]:
    return {
        "ramo": "DISPOSITIVOS",
        "tipo": tipo,
        "titulo": titulo,
        "documentos": _DEVICE_DOCS + (_THEFT_DOCS if theft else []) + (extra_docs or []),
        "plazos": [_NOTICE_5_DAYS, *([_AUTHORITY_48H] if theft else [])],
        "pasos": _DEVICE_STEPS
        + (["Tener instalada y activa la aplicación de geolocalización INSURAMA MX en el celular"] if theft else [])
        + [DEVICE_WAITING_NOTE],
        "telefono": "55 5227 9000",
        "fuente": "Condiciones Generales Mis Dispositivos GNP, agosto 2025, cap. V",
    }


def _auto(tipo: str, titulo: str, docs: list[str], authority: bool = False) -> dict[str, object]:
    plazos: list[dict[str, object]] = [_NOTICE_5_DAYS, _AUTO_PAYMENT]
    steps = list(_AUTO_STEPS)
    if authority:
        steps.append("Presentar querella o denuncia ante las autoridades competentes y gestionar la recuperación")
    return {
        "ramo": "AUTOS",
        "tipo": tipo,
        "titulo": titulo,
        "documentos": _AUTO_DOCS + docs,
        "plazos": plazos,
        "pasos": steps,
        "telefono": "55 5227 9000",
        "fuente": "Condiciones Generales Seguro de Automóviles Individual, cap. 4",
    }


REQUIREMENTS: tuple[dict[str, object], ...] = (
    _device("robo_con_violencia", "Robo con violencia de un dispositivo", True),
    _device("robo_sin_violencia", "Robo sin violencia de un dispositivo", True),
    _device("variacion_voltaje", "Daño por variación de voltaje", False),
    _device("danos_equipo", "Daños del equipo por accidente", False),
    _device("rotura_pantalla", "Rotura de pantalla", False),
    _device("rotura_equipo", "Rotura del equipo", False),
    _device("extension_garantia", "Falla técnica después de la garantía del fabricante", False),
    _device("tramite_reparacion", "Trámite de reparación", False),
    _auto(
        "colision",
        "Colisión o daños materiales (pérdida parcial)",
        ["Orden de admisión entregada en el ajuste y tarjeta de circulación (pago directo)"],
    ),
    _auto("perdida_total", "Pérdida total del vehículo", _TOTAL_LOSS_DOCS),
    _auto(
        "robo_total",
        "Robo total del vehículo",
        [*_TOTAL_LOSS_DOCS, "Acta de robo ante el Ministerio Público", "Acreditación de la propiedad ante el MP"],
        authority=True,
    ),
    _auto(
        "cristales",
        "Rotura de cristales",
        ["Orden de admisión entregada en el ajuste y tarjeta de circulación (pago directo)"],
    ),
    _auto("robo_parcial", "Robo parcial o de autopartes", ["Denuncia ante el Ministerio Público"], authority=True),
    _auto(
        "responsabilidad_civil",
        "Responsabilidad civil (daños a terceros)",
        ["Reclamaciones o demandas recibidas y copia de los documentos entregados al asegurado"],
    ),
    _auto(
        "gastos_medicos_ocupantes",
        "Gastos médicos de ocupantes",
        ["Orden de admisión, facturas de los servicios y estado de cuenta con CLABE", "Acta de defunción, en su caso"],
    ),
    {
        "ramo": "GASTOS_MEDICOS_MAYORES",
        "tipo": "reembolso",
        "titulo": "Reembolso de gastos médicos",
        "documentos": [
            "Aviso de accidente o enfermedad firmado por el asegurado",
            "Informe médico del médico tratante",
            "Facturas (CFDI) a nombre del asegurado o del contratante",
            "Estudios e interpretaciones que confirmen el diagnóstico",
            "Identificación oficial y estado de cuenta con CLABE",
        ],
        "plazos": [_NOTICE_5_DAYS, {"descripcion": "Pago dentro de 30 días tras recibir la documentación", "dias": 30}],
        "pasos": ["Llamar a la Línea GNP para programar la cirugía u hospitalización en la red"],
        "telefono": "55 5227 9000",
    },
    {
        "ramo": "GASTOS_MEDICOS_MAYORES",
        "tipo": "programacion",
        "titulo": "Programación de cirugía u hospitalización",
        "documentos": [
            "Informe médico",
            "Identificación oficial del asegurado",
            "Estudios que respalden el diagnóstico",
        ],
        "plazos": [{"descripcion": "Solicitar la programación con al menos 5 días hábiles de anticipación", "dias": 5}],
        "pasos": ["Enviar la solicitud desde la App Soy Cliente GNP o con el agente"],
        "telefono": "55 5227 9000",
    },
    {
        "ramo": "VIDA",
        "tipo": "fallecimiento",
        "titulo": "Reclamación por fallecimiento",
        "documentos": [
            "Acta de defunción y certificado médico de defunción",
            "Identificación oficial, comprobante de domicilio, RFC y CURP de cada beneficiario",
            "Estado de cuenta de cada beneficiario con CLABE",
            "Actuaciones del Ministerio Público, en caso de muerte accidental",
        ],
        "plazos": [_NOTICE_5_DAYS],
        "pasos": ["Los beneficiarios presentan la reclamación en una oficina GNP o con el agente"],
        "telefono": "55 5227 9000",
    },
    {
        "ramo": "HOGAR",
        "tipo": "danos",
        "titulo": "Daños a la vivienda o sus contenidos",
        "documentos": [
            "Formato de reclamación",
            "Fotografías de los daños",
            "Facturas o comprobantes de propiedad de los bienes dañados",
            "Presupuesto de reparación",
        ],
        "plazos": [_NOTICE_5_DAYS],
        "pasos": ["Reportar a la Línea GNP; un ajustador visitará la vivienda"],
        "telefono": "55 5227 9000",
    },
    {
        "ramo": "HOGAR",
        "tipo": "robo",
        "titulo": "Robo de contenidos",
        "documentos": [
            "Formato de reclamación",
            "Denuncia ante el Ministerio Público",
            "Facturas de los bienes robados",
        ],
        "plazos": [_NOTICE_5_DAYS, _AUTHORITY_48H],
        "pasos": ["Reportar a la Línea GNP; un ajustador visitará la vivienda"],
        "telefono": "55 5227 9000",
    },
)


def _general(ramo: str, titulo: str, documentos: list[str], fuente: str | None = None) -> dict[str, object]:
    """The ramo's general claim procedure: what applies when no specific tipo is published."""
    data: dict[str, object] = {
        "ramo": ramo,
        "tipo": "general",
        "titulo": titulo,
        "documentos": documentos,
        "plazos": [_NOTICE_5_DAYS],
        "pasos": [
            "Reportar el evento a la Línea GNP 55 5227 9000 o desde la App Soy Cliente GNP",
            "Ejecutar todos los actos que tiendan a evitar o disminuir el daño",
        ],
        "telefono": "55 5227 9000",
    }
    if fuente:
        data["fuente"] = fuente
    return data


REQUIREMENTS += (
    _general(
        "DISPOSITIVOS",
        "Reclamación de Mis Dispositivos GNP",
        _DEVICE_DOCS,
        "Condiciones Generales Mis Dispositivos GNP, agosto 2025, cap. V",
    ),
    _general(
        "AUTOS",
        "Reclamación de Autos Individual",
        _AUTO_DOCS,
        "Condiciones Generales Seguro de Automóviles Individual, cap. 4",
    ),
    _general(
        "GASTOS_MEDICOS_MAYORES",
        "Reclamación de Gastos Médicos Mayores",
        ["Aviso de accidente o enfermedad", "Informe médico", "Identificación oficial del asegurado"],
    ),
    _general("VIDA", "Reclamación de Vida", ["Formato de reclamación", "Identificación oficial del reclamante"]),
    _general("HOGAR", "Reclamación de Hogar Versátil", ["Formato de reclamación", "Fotografías de los daños"]),
    _general(
        "ACCIDENTES_PERSONALES",
        "Reclamación de Accidentes Personales",
        ["Aviso de accidente", "Informe médico", "Facturas de los gastos (CFDI)"],
    ),
)

# Coverage codes accepted as a "tipo" synonym in GET /requisitos (the portal may pass a coverage code).
REQUIREMENT_ALIASES = {
    ("DISPOSITIVOS", "RCV"): "robo_con_violencia",
    ("DISPOSITIVOS", "RSV"): "robo_sin_violencia",
    ("DISPOSITIVOS", "VVO"): "variacion_voltaje",
    ("DISPOSITIVOS", "DEQ"): "danos_equipo",
    ("DISPOSITIVOS", "RPA"): "rotura_pantalla",
    ("DISPOSITIVOS", "REQ"): "rotura_equipo",
    ("DISPOSITIVOS", "EXG"): "extension_garantia",
    ("DISPOSITIVOS", "TRE"): "tramite_reparacion",
    ("AUTOS", "DMPP"): "colision",
    ("AUTOS", "DMPT"): "perdida_total",
    ("AUTOS", "ROBT"): "robo_total",
    ("AUTOS", "CRIS"): "cristales",
    ("AUTOS", "ROBP"): "robo_parcial",
    ("AUTOS", "RPP"): "robo_parcial",
    ("AUTOS", "RCDT"): "responsabilidad_civil",
    ("AUTOS", "GMOC"): "gastos_medicos_ocupantes",
    ("AUTOS", "RCOC"): "responsabilidad_civil",
    ("AUTOS", "RCFA"): "responsabilidad_civil",
    ("AUTOS", "ERCD"): "responsabilidad_civil",
    ("GASTOS_MEDICOS_MAYORES", "GMM"): "reembolso",
    ("VIDA", "FALL"): "fallecimiento",
    ("VIDA", "MACC"): "fallecimiento",
    ("HOGAR", "ROBC"): "robo",
    ("HOGAR", "DYV"): "robo",
    **{("HOGAR", code): "danos" for code in ("INCE", "INCC", "HIDR", "TERR", "CRIS", "EELE")},
}
