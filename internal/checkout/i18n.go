package checkout

import (
	"strings"

	"github.com/kassa-pay/kassa"
)

// Locales the form speaks. The first is the default.
var locales = []string{"en", "es", "pt"}

// pickLocale returns the supported locale named by want (a query parameter,
// e.g. "es" or "pt-BR"), else the first supported one in the Accept-Language
// header, else English.
func pickLocale(want, acceptLanguage string) string {
	match := func(tag string) string {
		tag = strings.ToLower(strings.TrimSpace(tag))
		base, _, _ := strings.Cut(tag, "-")
		base, _, _ = strings.Cut(base, "_")
		for _, l := range locales {
			if base == l {
				return l
			}
		}
		return ""
	}
	if l := match(want); l != "" {
		return l
	}
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, _, _ := strings.Cut(part, ";")
		if l := match(tag); l != "" {
			return l
		}
	}
	return "en"
}

// messages are the form's texts by locale. Keys starting with "err." are
// also error codes from the engine and the processor.
var messages = map[string]map[string]string{
	"en": {
		"title":             "Pay %s",
		"pay_to":            "Pay %s",
		"secure":            "Secure payment by Kassa",
		"card_number":       "Card number",
		"expiry":            "Expiry date",
		"expiry_hint":       "MM / YY",
		"cvc":               "Security code",
		"cvc_hint":          "3 digits on the back, 4 on the front for American Express",
		"holder":            "Name on card",
		"pay":               "Pay %s",
		"paying":            "Processing…",
		"cancel":            "Cancel payment",
		"cancel_return":     "Cancel and return to %s",
		"return":            "Return to %s",
		"brand_unknown":     "",
		"challenge_title":   "Confirm with your bank",
		"challenge_text":    "Your bank asks you to confirm this payment. Follow the steps below.",
		"challenge_frame":   "Your bank's verification page",
		"done_succeeded":    "Payment successful",
		"done_authorized":   "Payment authorized",
		"done_processing":   "Payment is being processed",
		"done_processing_2": "The bank has not answered yet. The shop will confirm your order when it does.",
		"done_canceled":     "Payment canceled",
		"done_charged":      "%s was charged to %s •••• %s.",
		"expired_title":     "This payment page has expired",
		"expired_text":      "For your security, payment pages stay open for a limited time. Return to the shop and start the payment again; you have not been charged.",
		"not_found":         "This payment page does not exist or is no longer valid.",
		"noscript":          "This payment form needs JavaScript. Enable it and reload the page.",
		"redirecting":       "Taking you back to the shop…",
		"test_mode":         "Test mode — use a test card such as 4242 4242 4242 4242",

		"err.number_required":               "Enter your card number.",
		"err.incorrect_number":              "Your card number is incorrect. Check the digits and try again.",
		"err.invalid_number":                "Your card number is not valid.",
		"err.expiry_required":               "Enter the expiry date as MM\u00a0/\u00a0YY.",
		"err.invalid_expiry_month":          "The expiry month is not valid.",
		"err.invalid_expiry_year":           "The expiry year is not valid.",
		"err.expired_card":                  "Your card has expired. Use another card.",
		"err.cvc_required":                  "Enter the security code.",
		"err.invalid_cvc":                   "The security code must have %d digits.",
		"err.incorrect_cvc":                 "Your card's security code is incorrect.",
		"err.card_declined":                 "Your card was declined. Try another card or contact your bank.",
		"err.insufficient_funds":            "Your card has insufficient funds. Try another card.",
		"err.processing_error":              "An error occurred while processing your card. Try again.",
		"err.payment_authentication_failed": "Your bank could not confirm the payment. Try again or use another card.",
		"err.checkout_expired":              "This payment page has expired.",
		"err.order_already_paid":            "This order has already been paid.",
		"err.payment_unexpected_state":      "This payment can no longer be changed.",
		"err.payment_attempts_exceeded":     "Too many attempts were declined for this payment. Return to the shop to start again.",
		"err.network":                       "We could not reach the payment server. Check your connection and try again.",
		"err.generic":                       "Something went wrong. Try again.",
	},
	"es": {
		"title":             "Pagar a %s",
		"pay_to":            "Pagar a %s",
		"secure":            "Pago seguro con Kassa",
		"card_number":       "Número de tarjeta",
		"expiry":            "Fecha de vencimiento",
		"expiry_hint":       "MM / AA",
		"cvc":               "Código de seguridad",
		"cvc_hint":          "3 dígitos al dorso, 4 al frente en American Express",
		"holder":            "Nombre en la tarjeta",
		"pay":               "Pagar %s",
		"paying":            "Procesando…",
		"cancel":            "Cancelar el pago",
		"cancel_return":     "Cancelar y volver a %s",
		"return":            "Volver a %s",
		"brand_unknown":     "",
		"challenge_title":   "Confirme con su banco",
		"challenge_text":    "Su banco le pide confirmar este pago. Siga los pasos a continuación.",
		"challenge_frame":   "Página de verificación de su banco",
		"done_succeeded":    "Pago realizado",
		"done_authorized":   "Pago autorizado",
		"done_processing":   "El pago se está procesando",
		"done_processing_2": "El banco aún no ha respondido. La tienda confirmará su pedido cuando lo haga.",
		"done_canceled":     "Pago cancelado",
		"done_charged":      "Se cargaron %s a su %s •••• %s.",
		"expired_title":     "Esta página de pago ha vencido",
		"expired_text":      "Por su seguridad, las páginas de pago están abiertas por tiempo limitado. Vuelva a la tienda e inicie el pago de nuevo; no se le ha cobrado nada.",
		"not_found":         "Esta página de pago no existe o ya no es válida.",
		"noscript":          "Este formulario de pago necesita JavaScript. Actívelo y vuelva a cargar la página.",
		"redirecting":       "Volviendo a la tienda…",
		"test_mode":         "Modo de prueba: use una tarjeta de prueba como 4242 4242 4242 4242",

		"err.number_required":               "Ingrese el número de su tarjeta.",
		"err.incorrect_number":              "El número de tarjeta es incorrecto. Revise los dígitos e inténtelo de nuevo.",
		"err.invalid_number":                "El número de tarjeta no es válido.",
		"err.expiry_required":               "Ingrese la fecha de vencimiento como MM\u00a0/\u00a0AA.",
		"err.invalid_expiry_month":          "El mes de vencimiento no es válido.",
		"err.invalid_expiry_year":           "El año de vencimiento no es válido.",
		"err.expired_card":                  "Su tarjeta está vencida. Use otra tarjeta.",
		"err.cvc_required":                  "Ingrese el código de seguridad.",
		"err.invalid_cvc":                   "El código de seguridad debe tener %d dígitos.",
		"err.incorrect_cvc":                 "El código de seguridad de su tarjeta es incorrecto.",
		"err.card_declined":                 "Su tarjeta fue rechazada. Pruebe con otra tarjeta o contacte a su banco.",
		"err.insufficient_funds":            "Su tarjeta no tiene fondos suficientes. Pruebe con otra tarjeta.",
		"err.processing_error":              "Ocurrió un error al procesar su tarjeta. Inténtelo de nuevo.",
		"err.payment_authentication_failed": "Su banco no pudo confirmar el pago. Inténtelo de nuevo o use otra tarjeta.",
		"err.checkout_expired":              "Esta página de pago ha vencido.",
		"err.order_already_paid":            "Este pedido ya fue pagado.",
		"err.payment_unexpected_state":      "Este pago ya no se puede modificar.",
		"err.payment_attempts_exceeded":     "Se rechazaron demasiados intentos para este pago. Vuelva a la tienda para empezar de nuevo.",
		"err.network":                       "No pudimos contactar al servidor de pagos. Revise su conexión e inténtelo de nuevo.",
		"err.generic":                       "Algo salió mal. Inténtelo de nuevo.",
	},
	"pt": {
		"title":             "Pagar a %s",
		"pay_to":            "Pagar a %s",
		"secure":            "Pagamento seguro pela Kassa",
		"card_number":       "Número do cartão",
		"expiry":            "Validade",
		"expiry_hint":       "MM / AA",
		"cvc":               "Código de segurança",
		"cvc_hint":          "3 dígitos no verso, 4 na frente no American Express",
		"holder":            "Nome no cartão",
		"pay":               "Pagar %s",
		"paying":            "Processando…",
		"cancel":            "Cancelar pagamento",
		"cancel_return":     "Cancelar e voltar para %s",
		"return":            "Voltar para %s",
		"brand_unknown":     "",
		"challenge_title":   "Confirme com seu banco",
		"challenge_text":    "Seu banco pede que você confirme este pagamento. Siga as etapas abaixo.",
		"challenge_frame":   "Página de verificação do seu banco",
		"done_succeeded":    "Pagamento aprovado",
		"done_authorized":   "Pagamento autorizado",
		"done_processing":   "O pagamento está em processamento",
		"done_processing_2": "O banco ainda não respondeu. A loja confirmará seu pedido quando isso acontecer.",
		"done_canceled":     "Pagamento cancelado",
		"done_charged":      "%s foram cobrados no seu %s •••• %s.",
		"expired_title":     "Esta página de pagamento expirou",
		"expired_text":      "Para sua segurança, as páginas de pagamento ficam abertas por tempo limitado. Volte à loja e inicie o pagamento novamente; nada foi cobrado.",
		"not_found":         "Esta página de pagamento não existe ou não é mais válida.",
		"noscript":          "Este formulário de pagamento precisa de JavaScript. Ative-o e recarregue a página.",
		"redirecting":       "Voltando para a loja…",
		"test_mode":         "Modo de teste — use um cartão de teste como 4242 4242 4242 4242",

		"err.number_required":               "Informe o número do cartão.",
		"err.incorrect_number":              "O número do cartão está incorreto. Confira os dígitos e tente novamente.",
		"err.invalid_number":                "O número do cartão não é válido.",
		"err.expiry_required":               "Informe a validade como MM\u00a0/\u00a0AA.",
		"err.invalid_expiry_month":          "O mês de validade não é válido.",
		"err.invalid_expiry_year":           "O ano de validade não é válido.",
		"err.expired_card":                  "Seu cartão está vencido. Use outro cartão.",
		"err.cvc_required":                  "Informe o código de segurança.",
		"err.invalid_cvc":                   "O código de segurança deve ter %d dígitos.",
		"err.incorrect_cvc":                 "O código de segurança do cartão está incorreto.",
		"err.card_declined":                 "Seu cartão foi recusado. Tente outro cartão ou fale com seu banco.",
		"err.insufficient_funds":            "Seu cartão não tem saldo suficiente. Tente outro cartão.",
		"err.processing_error":              "Ocorreu um erro ao processar seu cartão. Tente novamente.",
		"err.payment_authentication_failed": "Seu banco não confirmou o pagamento. Tente novamente ou use outro cartão.",
		"err.checkout_expired":              "Esta página de pagamento expirou.",
		"err.order_already_paid":            "Este pedido já foi pago.",
		"err.payment_unexpected_state":      "Este pagamento não pode mais ser alterado.",
		"err.payment_attempts_exceeded":     "Foram recusadas tentativas demais para este pagamento. Volte à loja para começar de novo.",
		"err.network":                       "Não foi possível falar com o servidor de pagamentos. Verifique sua conexão e tente novamente.",
		"err.generic":                       "Algo deu errado. Tente novamente.",
	},
}

// msg returns the text for key in locale, English if the locale lacks it.
func msg(locale, key string) string {
	if s, ok := messages[locale][key]; ok {
		return s
	}
	return messages["en"][key]
}

// errorMessage turns an engine or processor error into the shopper's words:
// a decline code is more telling than the generic card_declined.
func errorMessage(locale string, e *kassa.Error) string {
	for _, k := range []string{e.DeclineCode, e.Code} {
		if k == "" || k == "generic_decline" {
			continue
		}
		if s, ok := messages[locale]["err."+k]; ok {
			if k == "invalid_cvc" {
				return strings.Replace(s, "%d", cvcDigits(e.Message), 1)
			}
			return s
		}
	}
	if e.Kind == kassa.ECARD {
		return msg(locale, "err.card_declined")
	}
	return msg(locale, "err.generic")
}

func cvcDigits(m string) string {
	if strings.Contains(m, "4 digits") {
		return "4"
	}
	return "3"
}

// formMessages are the texts form.js needs for checks in the browser.
func formMessages(locale string) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"err.number_required", "err.incorrect_number", "err.invalid_number", "err.expiry_required",
		"err.invalid_expiry_month", "err.expired_card", "err.cvc_required", "err.invalid_cvc", "err.network", "err.generic",
		"paying", "redirecting", "done_succeeded", "done_authorized", "done_processing", "done_processing_2", "done_canceled",
		"expired_title", "expired_text"} {
		out[k] = msg(locale, k)
	}
	return out
}
